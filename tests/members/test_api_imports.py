from unittest import mock

from tests.members.conftest import MANAGER_PASSWORD


def test_import_api_is_hq_only_and_reports_bad_input(world, client_for):
    manager = client_for(world.brand).as_staff(world.m1.username, MANAGER_PASSWORD)
    assert manager.post("/api/v1/staff/member-imports", {"filename": "x.csv"}, format="json").status_code == 403

    hq = client_for(world.brand).as_staff("alpha-hq", "hq-password-1")
    response = hq.post("/api/v1/staff/member-imports", {"filename": "x.csv", "encoding": "latin-1"}, format="json")
    assert response.status_code == 400 and "encoding" in response.json()["error"]["fields"]
    import_id = hq.post("/api/v1/staff/member-imports", {"filename": "x.csv"}, format="json").json()["id"]
    response = hq.post(f"/api/v1/staff/member-imports/{import_id}/start")
    assert response.status_code == 400 and response.json()["error"]["code"] == "import_empty"
    response = hq.put(
        f"/api/v1/staff/member-imports/{import_id}/chunks/0", b"x" * (950 * 1024), content_type="text/csv"
    )
    assert response.status_code == 413
    response = hq.put(
        f"/api/v1/staff/member-imports/{import_id}/chunks/0", b"phone,name\n13800000001,a\n", content_type="text/csv"
    )
    assert response.status_code == 200 and response.json()["size_bytes"] == 25
    with mock.patch("members.tasks.member_import_run.apply_async"):
        response = hq.post(f"/api/v1/staff/member-imports/{import_id}/start")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    response = hq.put(f"/api/v1/staff/member-imports/{import_id}/chunks/1", b"more", content_type="text/csv")
    assert response.status_code == 409
    assert hq.get("/api/v1/staff/member-imports/999999").status_code == 404


def test_imports_of_brand_a_are_invisible_on_brand_b(world, client_for, brand_b):
    hq = client_for(world.brand).as_staff("alpha-hq", "hq-password-1")
    import_id = hq.post("/api/v1/staff/member-imports", {"filename": "x.csv"}, format="json").json()["id"]
    b_hq = client_for(brand_b).as_staff("beta-hq", "hq-password-1")
    assert b_hq.get(f"/api/v1/staff/member-imports/{import_id}").status_code == 404
