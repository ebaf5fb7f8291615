"""Test set-up: a database of its own (`<name>_test`), migrated once, with two brands; a Redis db of its own;
the fake WeChat on loopback; and, for the tests that need one, a real Celery worker process.

Most tests use the `db` fixture (each test in a transaction rolled back at the end). Tests that need data
committed (a worker, concurrent threads, a live HTTP server) use `committed_db` and a brand of their own from
`new_brand` so they see a clean schema and leave the shared brands alone.
"""

from __future__ import annotations

import os
import uuid

import psycopg2
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django_tenants.utils import schema_context

from tests.fake_wechat.server import FakeWeChat
from tests.helpers import BrandClient, WorkerProcess

BRAND_PASSWORD = "hq-password-1"


def _admin_dsn() -> dict:
    db = settings.DATABASES["default"]
    return {
        "dbname": "postgres",
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": db.get("PORT") or "",
    }


def _recreate_database(name: str) -> None:
    conn = psycopg2.connect(**{k: v for k, v in _admin_dsn().items() if v != ""})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


@pytest.fixture(scope="session")
def fake_wechat():
    fake = FakeWeChat().start()
    settings.WECHAT_API_BASE_URL = fake.base_url
    settings.WECHATPAY_API_BASE_URL = fake.base_url
    os.environ["WECHAT_API_BASE_URL"] = fake.base_url  # for worker processes
    os.environ["WECHATPAY_API_BASE_URL"] = fake.base_url
    yield fake
    fake.stop()


@pytest.fixture(autouse=True)
def _fake_wechat_per_test(fake_wechat):
    fake_wechat.reset()
    yield


@pytest.fixture(scope="session")
def redis_client():
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    return client


@pytest.fixture(scope="session")
def django_db_setup(django_db_blocker, redis_client, fake_wechat):
    with django_db_blocker.unblock():
        _recreate_database(settings.DATABASES["default"]["NAME"])
        connection.close()
        call_command("bootstrap", verbosity=0)
        from tenants.services import brand_create, wechat_app_add

        for slug in ("alpha", "beta"):
            brand = brand_create(
                slug=slug, name=slug.title(), admin_username=f"{slug}-hq", admin_password=BRAND_PASSWORD
            )
            wechat_app_add(
                brand=brand,
                appid=f"wx{slug}000000000001",
                secret=f"{slug}-secret",
                token=f"{slug}token",
                aes_key=("k" * 43),
            )
        connection.set_schema_to_public()
    yield


@pytest.fixture
def brand_a(db):
    from tenants.models import Brand

    return Brand.objects.get(slug="alpha")


@pytest.fixture
def brand_b(db):
    from tenants.models import Brand

    return Brand.objects.get(slug="beta")


@pytest.fixture
def committed_db(django_db_setup, django_db_blocker):
    """Real commits (no per-test transaction). Use unique data or a brand from `new_brand`."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        yield
        connection.set_schema_to_public()


@pytest.fixture
def new_brand(committed_db):
    """Provision a fresh brand (cloned from the template) for a test that commits data."""
    from tenants.services import brand_create, wechat_app_add

    def make(prefix: str = "t", *, with_app: bool = True):
        slug = f"{prefix}{uuid.uuid4().hex[:10]}"
        brand = brand_create(slug=slug, name=slug, admin_username="hq", admin_password=BRAND_PASSWORD)
        if with_app:
            wechat_app_add(
                brand=brand,
                appid=f"wx{slug[:10]}{uuid.uuid4().hex[:8]}",
                secret="s3cret",
                token="tok",
                aes_key="k" * 43,
            )
        connection.set_schema_to_public()
        return brand

    return make


@pytest.fixture
def in_schema():
    """`with in_schema(brand): ...` runs ORM code in the brand's schema."""

    def enter(brand):
        return schema_context(brand.schema_name)

    return enter


@pytest.fixture
def client_for():
    """`client_for(brand)` is an API client whose requests go to the brand's host (None: the platform host)."""

    def make(brand=None):
        return BrandClient(brand)

    return make


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, fake_wechat):
    """A real `celery worker` process on the test database and Redis. Tests may kill and restart it."""
    worker = WorkerProcess()
    worker.start()
    yield worker
    worker.stop()


# --- WeChat Pay APIv3 (service provider): key pairs the suite generates, the fake signs with ------------------


@pytest.fixture(scope="session")
def wechatpay_v3_keys(fake_wechat):
    """RSA key pairs: the service provider's merchant key, WeChat Pay's platform key (as a public key with an id,
    and as a platform certificate), and a stranger's key for forgeries."""
    from tests.wechatpay_v3 import generate_keys

    keys = generate_keys()
    fake_wechat.pay_v3_keys(keys.platform_key, keys.public_key_id, certificates=[keys.certificate_row])
    return keys


@pytest.fixture
def wechatpay_v3(wechatpay_v3_keys, fake_wechat):
    """The platform's service-provider account, in the registry and at the fake (public-key mode)."""
    from tests.wechatpay_v3 import provider_install

    return provider_install(wechatpay_v3_keys, fake_wechat)


@pytest.fixture
def broker_unreachable():
    """This process's Celery broker is a closed port on loopback (nothing listens there): every send fails as it
    does when Redis is down, after the client's own connection retries."""
    from tests.helpers import broker_unreachable_during

    with broker_unreachable_during():
        yield
