"""Defect 16: connection health checks; PostgreSQL or Redis unreachable is a 503 with Retry-After in the error
shape, never a 500; the health endpoint reports each dependency."""

import socket

import psycopg2
import pytest
from django.conf import settings as django_settings
from django.core.signals import request_started
from django.db import close_old_connections, connections

from core.redis_client import redis_client


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    redis_client.cache_clear()
    yield
    redis_client.cache_clear()


@pytest.fixture
def postgres_down(committed_db):
    conn = connections["default"]
    conn.close()
    saved = dict(conn.settings_dict)
    conn.settings_dict.update(HOST="127.0.0.1", PORT=str(_closed_port()))
    yield
    conn.close()
    conn.settings_dict.clear()
    conn.settings_dict.update(saved)


def _assert_503(response):
    assert response.status_code == 503, response.content
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "service_unavailable"


def test_redis_down_is_a_503_with_retry_after(brand_a, client_for, redis_down):
    response = client_for(brand_a).post(
        "/api/v1/mp/session", {"appid": "wxalpha000000000001", "code": "c"}, format="json"
    )
    _assert_503(response)


def test_health_reports_each_dependency(brand_a, client_for, redis_down):
    response = client_for(brand_a).get("/api/v1/health")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.json()["checks"] == {"database": "ok", "redis": "down"}


def test_health_is_ok_when_both_answer(brand_a, client_for):
    response = client_for(brand_a).get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok"}


def test_postgres_down_is_a_503_on_api_and_admin_hosts(client_for, postgres_down):
    client = client_for(None)
    client.raise_request_exception = False  # as a server would: answer, do not re-raise into the test
    for path in ("/api/v1/health", "/api/v1/ops/brands", "/admin/login/"):
        _assert_503(client.get(path))


def test_a_killed_persistent_connection_is_replaced_not_a_500(committed_db, client_for):
    conn = connections["default"]
    conn.close()
    saved = (conn.settings_dict["CONN_MAX_AGE"], conn.settings_dict.get("CONN_HEALTH_CHECKS"))
    conn.settings_dict["CONN_MAX_AGE"] = 600
    conn.settings_dict["CONN_HEALTH_CHECKS"] = django_settings.DATABASES["default"]["CONN_HEALTH_CHECKS"]
    try:
        client = client_for(None)
        assert client.get("/api/v1/health").status_code == 200
        pid = conn.connection.info.backend_pid  # the persistent connection the next request would reuse
        db = conn.settings_dict
        admin = psycopg2.connect(
            dbname=db["NAME"],
            user=db.get("USER") or "postgres",
            host=db.get("HOST") or None,
            port=db.get("PORT") or None,
        )
        admin.autocommit = True
        with admin.cursor() as cur:  # what a PostgreSQL restart does to every open connection
            cur.execute("SELECT pg_terminate_backend(%s)", [pid])
        admin.close()
        # a real server runs close_old_connections at each request start (Django's test client unhooks it)
        request_started.send(sender=None)
        close_old_connections()
        assert client.get("/api/v1/health").status_code == 200
    finally:
        conn.close()
        conn.settings_dict["CONN_MAX_AGE"], conn.settings_dict["CONN_HEALTH_CHECKS"] = saved
