"""With a real Celery worker process: the import runs in the brand's schema with progress, and a burst of card
changes reaches WeChat as one call."""

import pytest
from django_tenants.utils import schema_context

from tests.conftest import BRAND_PASSWORD
from tests.helpers import wait_until

pytestmark = pytest.mark.worker


def test_import_uploaded_in_chunks_runs_in_the_worker(new_brand, client_for, celery_worker_process):
    brand = new_brand("imp")
    hq = client_for(brand).as_staff("hq", BRAND_PASSWORD)
    rows = "".join(f"1381{i:07d},Member {i},,,,,,\n" for i in range(3000))
    content = (
        "phone,name,gender,birthday,joined_at,store_code,guide_employee_no,tier\n" + rows + "bad,row,,,,,,\n"
    ).encode()
    created = hq.post("/api/v1/staff/member-imports", {"filename": "crm.csv"}, format="json")
    assert created.status_code == 201, created.content
    import_id = created.json()["id"]
    size = 40_000
    for seq, start in enumerate(range(0, len(content), size)):
        response = hq.put(
            f"/api/v1/staff/member-imports/{import_id}/chunks/{seq}",
            content[start : start + size],
            content_type="text/csv",
        )
        assert response.status_code == 200, response.content
    assert hq.post(f"/api/v1/staff/member-imports/{import_id}/start").status_code == 202

    def finished():
        body = hq.get(f"/api/v1/staff/member-imports/{import_id}").json()
        return body if body["status"] in ("done", "failed") else None

    body = wait_until(finished, timeout=60, message="import to finish")
    assert body["status"] == "done", body
    assert (body["rows_processed"], body["rows_created"], body["rows_failed"]) == (3001, 3000, 1)
    errors = hq.get(f"/api/v1/staff/member-imports/{import_id}/errors").json()["results"]
    assert errors == [
        {"row_number": 3002, "message": "phone: not a mainland China mobile number (11 digits starting with 1)"}
    ]
    with schema_context(brand.schema_name):
        from members.models import Member

        assert Member.objects.count() == 3000
    with schema_context("alpha"):
        from members.models import Member

        assert not Member.objects.filter(name="Member 1").exists()


def test_ten_card_changes_in_a_second_cost_one_wechat_call(new_brand, fake_wechat, celery_worker_process):
    from celery.signals import before_task_publish

    brand = new_brand("card")
    published = []

    def record(sender=None, headers=None, **_):
        if sender == "members.card_update":
            published.append(headers["id"])

    before_task_publish.connect(record, weak=False)
    try:
        with schema_context(brand.schema_name):
            from members.models import CardTemplate, Member
            from members.services import member_card_sync_request

            CardTemplate.objects.create(card_id="pCARDworker")
            member = Member.objects.create(
                openid="o-w", card_id="pCARDworker", card_code=f"W-{brand.slug}", card_state="activated"
            )
            for _ in range(10):
                member_card_sync_request(member=member)
    finally:
        before_task_publish.disconnect(record)

    def updates():
        return [u for u in fake_wechat.state.get("card_updates", []) if u["code"] == f"W-{brand.slug}"]

    def succeeded(task_id: str) -> bool:
        return f"{task_id}] succeeded" in celery_worker_process.log_path.read_text(errors="replace")

    # ten requests queued one task; once it has run, WeChat was called once
    assert len(published) == 1
    wait_until(lambda: succeeded(published[0]), timeout=30, message="the card update task")
    assert len(updates()) == 1
    # a change after the update went out is sent too
    with schema_context(brand.schema_name):
        member_card_sync_request(member=member)
    wait_until(lambda: len(updates()) == 2, timeout=30, message="the second card update")


def test_a_big_import_is_read_on_processes_forked_by_the_worker(new_brand, celery_worker_process):
    """More than two pieces of BATCH_ROWS lines: the task forks reader processes (multiprocessing refuses children
    to a Celery prefork process unless told otherwise) and the import completes in the worker."""
    from members.models import Member, MemberImport
    from members.services.imports import BATCH_ROWS, member_import_from_bytes

    brand = new_brand("imw", with_app=False)
    count = 2 * BATCH_ROWS + 500
    rows = "".join(f"1384{i:07d},Member {i},女,1990-01-02,2019-03-04 10:00\n" for i in range(count))
    with schema_context(brand.schema_name):
        imp = member_import_from_bytes(
            filename="big.csv", content=f"phone,name,gender,birthday,joined_at\n{rows}".encode()
        )

        def finished():
            current = MemberImport.objects.get(pk=imp.pk)
            return current if current.status in ("done", "failed") else None

        done = wait_until(finished, timeout=120, message="import to finish")
        assert (done.status, done.rows_processed, done.rows_created, done.rows_failed) == ("done", count, count, 0)
        assert Member.objects.count() == count
