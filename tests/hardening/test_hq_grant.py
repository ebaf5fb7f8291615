"""Defect 3: HQ is an explicit grant on the staff profile; a user without one sees nothing."""

import importlib

from django.apps import apps as django_apps
from django.contrib.auth import get_user_model

from members.models import Guide, StaffProfile
from members.services import guide_create, store_create

PASSWORD = "a-long-pass-phrase-9"
STAFF_PATHS = ("/api/v1/staff/stores", "/api/v1/staff/members", "/api/v1/staff/guides", "/api/v1/console/orders")


def _login_is_let_into_admin(client, username) -> bool:
    client.post("/admin/login/?next=/admin/", {"username": username, "password": PASSWORD})
    return client.get("/admin/").status_code == 200


def test_a_guide_whose_link_was_cleared_is_not_hq(brand_a, in_schema, client_for):
    # given a guide with a login, whose link the HQ then cleared (the login stays, as it would in the admin)
    with in_schema(brand_a):
        store = store_create(code="CLR1", name="Clear store")
        guide = guide_create(store=store, name="Cleared", employee_no="E-CLR")
        user = get_user_model().objects.create_user(username="cleared-guide", password=PASSWORD)
        Guide.objects.filter(pk=guide.pk).update(user=user)
        Guide.objects.filter(pk=guide.pk).update(user=None)
    client = client_for(brand_a).as_staff("cleared-guide", PASSWORD)
    # then no staff view lets them in, and the HQ admin neither
    for path in STAFF_PATHS:
        response = client.get(path)
        assert response.status_code == 403, (path, response.content)
        assert response.json()["error"]["code"]
    assert client.get("/api/v1/guide/orders").status_code == 403
    assert not _login_is_let_into_admin(client_for(brand_a), "cleared-guide")


def test_a_user_without_a_profile_or_with_role_none_sees_nothing(brand_a, in_schema, client_for):
    with in_schema(brand_a):
        get_user_model().objects.create_user(username="forgotten", password=PASSWORD, is_staff=True)
        none = get_user_model().objects.create_user(username="role-none", password=PASSWORD, is_staff=True)
        StaffProfile.objects.create(user=none)
    for username in ("forgotten", "role-none"):
        client = client_for(brand_a).as_staff(username, PASSWORD)
        for path in STAFF_PATHS:
            assert client.get(path).status_code == 403, (username, path)
        assert not _login_is_let_into_admin(client_for(brand_a), username)


def test_the_hq_role_is_what_grants_hq(brand_a, in_schema, client_for):
    from members.services.staff import staff_role_grant

    with in_schema(brand_a):
        user = get_user_model().objects.create_user(username="granted", password=PASSWORD, is_staff=True)
        staff_role_grant(user=user, role=StaffProfile.Role.HQ)
    client = client_for(brand_a).as_staff("granted", PASSWORD)
    assert client.get("/api/v1/staff/stores").status_code == 200
    assert _login_is_let_into_admin(client_for(brand_a), "granted")


def test_create_brand_makes_an_hq_admin(new_brand, in_schema):
    brand = new_brand("hq")
    with in_schema(brand):
        assert StaffProfile.objects.get(user__username="hq").role == "hq"


def test_the_data_migration_gives_existing_brand_admins_hq_and_nobody_else(brand_a, in_schema):
    migration = importlib.import_module("members.migrations.0006_staff_role")
    with in_schema(brand_a):
        User = get_user_model()
        admin = User.objects.create_superuser(username="old-admin", password=PASSWORD, email="")
        plain = User.objects.create_user(username="old-plain", password=PASSWORD, is_staff=True)
        StaffProfile.objects.filter(user=admin).delete()
        migration.grant_existing_roles(django_apps, None)
        assert StaffProfile.objects.get(user=admin).role == "hq"
        assert not StaffProfile.objects.filter(user=plain, role="hq").exists()
