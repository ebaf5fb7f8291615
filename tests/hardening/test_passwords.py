"""Defect 2: Django's password validators run on every path that sets a password; an empty one never works."""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from core.errors import ApplicationError
from tenants.models import Brand
from tenants.services import brand_create


@pytest.mark.parametrize("password", ["", "a", "12345678901", "password123"])
def test_create_brand_refuses_a_weak_admin_password_and_creates_nothing(db, password):
    slug = "weak" + uuid.uuid4().hex[:6]
    with pytest.raises(ApplicationError) as info:
        brand_create(slug=slug, name="Weak", admin_username="boss", admin_password=password)
    assert info.value.code == "weak_password" and info.value.fields["password"]
    assert not Brand.objects.filter(slug=slug).exists()


def test_the_create_brand_command_refuses_a_one_letter_password(db):
    with pytest.raises(CommandError):
        call_command(
            "create_brand", "--slug", "weakcmd", "--name", "W", "--admin-username", "boss", "--admin-password", "x"
        )
    assert not Brand.objects.filter(slug="weakcmd").exists()


def test_the_ops_admin_form_refuses_an_empty_password(db, client_for):
    from django_tenants.utils import schema_context

    with schema_context("public"):
        get_user_model().objects.create_superuser("ops-pw", password="ops-password-1", email="")
    client = client_for(None)
    client.post("/admin/login/?next=/admin/", {"username": "ops-pw", "password": "ops-password-1"})
    for password in ("", "abc"):
        response = client.post(
            "/admin/tenants/brand/add/",
            {
                "slug": "weakform",
                "name": "W",
                "industry": "other",
                "admin_username": "first",
                "admin_password": password,
                "domains-TOTAL_FORMS": "0",
                "domains-INITIAL_FORMS": "0",
            },
        )
        assert response.status_code == 200  # the form again, with the error
        assert "admin_password" in response.context["adminform"].form.errors
    assert not Brand.objects.filter(slug="weakform").exists()


def test_a_guide_login_with_an_empty_password_is_refused(brand_a, in_schema, client_for):
    from members.services import guide_create, store_create

    with in_schema(brand_a):
        guide = guide_create(store=store_create(code="PW1", name="pw"), name="G", employee_no="E-PW")
    client = client_for(brand_a).as_staff("alpha-hq", "hq-password-1")
    for password in ("", "short"):
        response = client.post(
            f"/api/v1/staff/guides/{guide.pk}/login", {"username": "g-pw", "password": password}, format="json"
        )
        assert response.status_code == 400, response.content
        assert response.json()["error"]["fields"]["password"]


def test_an_empty_password_never_logs_in_even_if_a_row_holds_its_hash(brand_a, in_schema, client_for):
    with in_schema(brand_a):
        user = get_user_model().objects.create_superuser("empty-pw", password="x", email="")
        user.set_password("")
        user.save()
        from members.services.staff import staff_role_grant

        staff_role_grant(user=user, role="hq")
    assert client_for(brand_a).as_staff("empty-pw", "").get("/api/v1/staff/stores").status_code in (401, 403)
    admin = client_for(brand_a)
    admin.post("/admin/login/?next=/admin/", {"username": "empty-pw", "password": ""})
    assert admin.get("/admin/").status_code == 302  # still sent to the login page
