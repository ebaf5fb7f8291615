"""Nothing of brand A is visible or writable from brand B: ORM, API, admin, cache, tasks."""

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from django_tenants.utils import schema_context

from members.models import Member
from tests.conftest import BRAND_PASSWORD
from tests.helpers import wait_until


class TestOrm:
    def test_rows_of_a_are_invisible_in_b(self, brand_a, brand_b, in_schema):
        with in_schema(brand_a):
            Member.objects.create(openid="only-in-alpha")
        with in_schema(brand_b):
            assert not Member.objects.filter(openid="only-in-alpha").exists()
        with in_schema(brand_a):
            assert Member.objects.filter(openid="only-in-alpha").exists()

    def test_brand_tables_do_not_exist_in_public(self, db):
        connection.set_schema_to_public()
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass('public.members_member')")
            assert cursor.fetchone()[0] is None


class TestStaffApi:
    def test_hq_credentials_of_a_do_not_work_on_b(self, brand_a, brand_b, client_for):
        # the same staff endpoint, on both hosts: alpha's HQ login lists alpha's members...
        with schema_context(brand_a.schema_name):
            member = Member.objects.create(openid="o-iso-staff-a", name="Only in alpha")
        ok = client_for(brand_a).as_staff("alpha-hq", BRAND_PASSWORD).get("/api/v1/staff/members")
        assert ok.status_code == 200
        assert member.pk in [m["id"] for m in ok.json()["results"]]
        # ...and is unknown on beta's host (alpha's staff user does not exist in beta's schema): refused
        refused = client_for(brand_b).as_staff("alpha-hq", BRAND_PASSWORD).get("/api/v1/staff/members")
        assert refused.status_code == 401, refused.content  # a wrong login is a 401 (issue 14)
        assert refused.json()["error"]["code"] == "not_authenticated"
        # beta's own HQ login works there, so the refusal is about the credentials, not the URL
        assert client_for(brand_b).as_staff("beta-hq", BRAND_PASSWORD).get("/api/v1/staff/members").status_code == 200

    def test_ops_api_is_not_reachable_from_a_brand_host(self, brand_a, client_for):
        response = client_for(brand_a).as_staff("alpha-hq", BRAND_PASSWORD).get("/api/v1/ops/brands")
        assert response.status_code == 404


class TestAdmin:
    def _login(self, client, username, password):
        return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})

    def test_brand_admin_does_not_show_the_brand_registry(self, brand_a, client_for):
        client = client_for(brand_a)
        response = self._login(client, "alpha-hq", BRAND_PASSWORD)
        assert response.status_code == 302, response.content[:500]
        index = client.get("/admin/")
        assert index.status_code == 200
        assert b"members" in index.content.lower()
        assert b"/admin/tenants/brand/" not in index.content
        assert client.get("/admin/tenants/brand/").status_code == 404
        assert client.get("/admin/tenants/wechatapp/").status_code == 404

    def test_credentials_of_a_do_not_log_into_b(self, brand_a, brand_b, client_for):
        response = self._login(client_for(brand_b), "alpha-hq", BRAND_PASSWORD)
        assert response.status_code == 200  # the form again, with an error
        assert b"correct username" in response.content or b"\xe6\xad\xa3\xe7\xa1\xae" in response.content

    def test_a_session_cookie_of_a_is_useless_on_b(self, brand_a, brand_b, client_for):
        client_a = client_for(brand_a)
        self._login(client_a, "alpha-hq", BRAND_PASSWORD)
        client_b = client_for(brand_b)
        client_b.cookies = client_a.cookies
        response = client_b.get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]

    def test_ops_admin_masks_wechat_secrets(self, db, client_for):
        from django.contrib.auth.models import User

        User.objects.create_superuser("ops", password="ops-password-1", email="")
        client = client_for(None)
        assert self._login(client, "ops", "ops-password-1").status_code == 302
        listing = client.get("/admin/tenants/wechatapp/")
        assert listing.status_code == 200
        assert b"alpha-secret" not in listing.content and b"*" in listing.content
        from tenants.models import WeChatApp

        app = WeChatApp.objects.get(appid="wxalpha000000000001")
        change = client.get(f"/admin/tenants/wechatapp/{app.pk}/change/")
        assert change.status_code == 200
        assert b"alpha-secret" not in change.content and b"alphatoken" not in change.content

    def test_brand_staff_can_not_use_the_ops_admin(self, brand_a, client_for):
        response = self._login(client_for(None), "alpha-hq", BRAND_PASSWORD)
        assert response.status_code == 200  # alpha-hq is not a platform user

    def test_ops_admin_can_suspend_a_brand(self, db, brand_b, client_for):
        from django.contrib.auth.models import User

        User.objects.create_superuser("ops2", password="ops-password-1", email="")
        client = client_for(None)
        self._login(client, "ops2", "ops-password-1")
        response = client.post("/admin/tenants/brand/", {"action": "suspend", "_selected_action": [brand_b.pk]})
        assert response.status_code == 302
        brand_b.refresh_from_db()
        assert brand_b.status == "suspended"


class TestCache:
    def test_the_same_key_in_two_brands_holds_two_values(self, brand_a, brand_b):
        key = f"k-{uuid.uuid4().hex}"
        with schema_context("alpha"):
            cache.set(key, "alpha-value")
        with schema_context("beta"):
            assert cache.get(key) is None
            cache.set(key, "beta-value")
        with schema_context("alpha"):
            assert cache.get(key) == "alpha-value"


@pytest.mark.worker
class TestTasks:
    def test_a_task_runs_in_the_schema_it_was_queued_from(self, committed_db, celery_worker_process, redis_client):
        from core.tasks import probe

        tokens = {}
        # interleave brands so a worker process that kept the last schema would be caught
        for schema in ["alpha", "beta", "alpha", "public", "beta"]:
            token = uuid.uuid4().hex
            with schema_context(schema):
                probe.delay(token)
            tokens[token] = schema
        for token, schema in tokens.items():
            got = wait_until(lambda: redis_client.get(f"ekr:probe:{token}"), message=f"probe {token}")
            assert got.decode() == schema

    def test_enqueue_waits_for_commit(self, committed_db, celery_worker_process, redis_client):
        from django.db import transaction

        from core.tasks import enqueue, probe

        token = uuid.uuid4().hex
        try:
            with schema_context("beta"), transaction.atomic():
                enqueue(probe, token)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
        kept = uuid.uuid4().hex
        with schema_context("beta"), transaction.atomic():
            enqueue(probe, kept)
        assert wait_until(lambda: redis_client.get(f"ekr:probe:{kept}")).decode() == "beta"
        assert redis_client.get(f"ekr:probe:{token}") is None

    def test_fan_out_queues_once_per_active_brand(self, brand_a, brand_b):
        from celery.signals import before_task_publish

        from core.tasks import SCHEMA_HEADER, fan_out_to_brands, spread_seconds
        from tenants.models import Brand
        from tenants.services import brand_suspend

        assert 0 <= spread_seconds("alpha", 300) < 300
        assert spread_seconds("alpha", 300) == spread_seconds("alpha", 300)
        offsets = {spread_seconds(f"brand{i}", 300) for i in range(500)}
        assert len(offsets) > 200  # spread, not all in the same second

        # given beta suspended (rolled back with the test)
        brand_suspend(brand=brand_b)
        published = []

        def record(sender=None, headers=None, **_):
            if sender == "core.probe":
                published.append((headers[SCHEMA_HEADER], headers.get("eta")))

        before_task_publish.connect(record, weak=False)
        try:
            # when beat's fan-out runs (called as beat's worker would run it)
            count = fan_out_to_brands("core.probe", window_seconds=60, kwargs={"token": uuid.uuid4().hex})
        finally:
            before_task_publish.disconnect(record)
        # then one message per active brand, in its own schema, none for beta or the platform
        active = set(
            Brand.objects.filter(status=Brand.Status.ACTIVE)
            .exclude(schema_name="public")
            .values_list("schema_name", flat=True)
        )
        schemas = [schema for schema, _ in published]
        assert "alpha" in active and "beta" not in active
        assert sorted(schemas) == sorted(active) and count == len(active)
        assert all(eta for _, eta in published)  # each at its offset in the window


class TestBruteForce:
    def test_repeated_failed_logins_lock_the_account_out(self, brand_a, client_for):
        client = client_for(brand_a)
        for _ in range(5):
            client.post("/admin/login/?next=/admin/", {"username": "alpha-hq", "password": "wrong"})
        locked = client.post("/admin/login/?next=/admin/", {"username": "alpha-hq", "password": "hq-password-1"})
        assert locked.status_code == 429


class TestOpsAdminProvisioning:
    def test_ops_create_a_brand_in_the_admin(self, committed_db, client_for):
        from django.contrib.auth.models import User

        from tenants.models import Brand

        if not User.objects.filter(username="ops3").exists():
            User.objects.create_superuser("ops3", password="ops-password-1", email="")
        client = client_for(None)
        client.post("/admin/login/?next=/admin/", {"username": "ops3", "password": "ops-password-1"})
        slug = f"adm{uuid.uuid4().hex[:8]}"
        response = client.post(
            "/admin/tenants/brand/add/",
            {
                "slug": slug,
                "name": "Made in admin",
                "industry": "home",
                "admin_username": "first",
                "admin_password": "first-password-1",
            },
        )
        assert response.status_code == 302, response.content[:2000]
        brand = Brand.objects.get(slug=slug)
        with schema_context(brand.schema_name):
            from django.contrib.auth.models import User as BrandUser

            assert BrandUser.objects.filter(username="first").exists()
