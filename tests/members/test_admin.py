def test_hq_admin_lists_members_with_masked_phones_and_finds_by_phone(world, register, client_for):
    register("o-1", "13812345678", name="Mei")
    client = client_for(world.brand)
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="alpha-hq"))
    response = client.get("/admin/members/member/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "*******5678" in html and "13812345678" not in html
    found = client.get("/admin/members/member/", {"q": "138 1234 5678"}).content.decode()
    assert "Mei" in found
    assert "Mei" not in client.get("/admin/members/member/", {"q": "13800000000"}).content.decode()
    for page in ("store", "guide", "cardlevel", "memberimport", "tag"):
        assert client.get(f"/admin/members/{page}/").status_code == 200


def test_store_managers_cannot_use_the_hq_admin(world, client_for):
    world.m1.is_staff = True
    world.m1.save()
    client = client_for(world.brand)
    client.force_login(world.m1)
    assert client.get("/admin/members/member/").status_code in (302, 403)
