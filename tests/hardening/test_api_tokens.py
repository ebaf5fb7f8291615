"""Defect 15: scripts use API tokens (per user, revocable, a keyed hash at rest); HTTP Basic leaves the staff API."""

import base64

from core.models import ApiToken
from core.tokens import api_token_check


def _issue(client, username="alpha-hq", password="hq-password-1"):
    return client.post(
        "/api/v1/auth/tokens", {"username": username, "password": password, "name": "script"}, format="json"
    )


def test_a_token_is_issued_once_works_and_is_stored_only_as_a_keyed_hash(brand_a, in_schema, client_for):
    issued = _issue(client_for(brand_a))
    assert issued.status_code == 201, issued.content
    raw = issued.json()["token"]
    client = client_for(brand_a)
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw}")
    assert client.get("/api/v1/staff/stores").status_code == 200
    with in_schema(brand_a):
        row = ApiToken.objects.get(pk=issued.json()["id"])
        secret = raw.split("_", 2)[2]
        assert secret not in row.key_hash and len(row.key_hash) == 64 and row.last_used_at is not None
        listed = client.get("/api/v1/auth/tokens").json()["results"]
        assert [t["prefix"] for t in listed] == [row.prefix] and secret not in str(listed)


def test_a_revoked_token_is_refused(brand_a, client_for):
    raw = _issue(client_for(brand_a)).json()
    client = client_for(brand_a)
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw['token']}")
    assert client.post(f"/api/v1/auth/tokens/{raw['id']}/revoke").json()["revoked_at"]
    response = client.get("/api/v1/staff/stores")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Token")


def test_a_token_is_per_brand_and_per_user(brand_a, brand_b, in_schema, client_for):
    raw = _issue(client_for(brand_a)).json()
    on_b = client_for(brand_b)
    on_b.credentials(HTTP_AUTHORIZATION=f"Token {raw['token']}")
    assert on_b.get("/api/v1/staff/stores").status_code == 401
    # another user of the same brand cannot revoke it
    beta = _issue(client_for(brand_b), "beta-hq").json()
    other = client_for(brand_b)
    other.credentials(HTTP_AUTHORIZATION=f"Token {beta['token']}")
    assert other.post(f"/api/v1/auth/tokens/{raw['id']}/revoke").status_code in (404, 401)


def test_a_wrong_password_gets_no_token_and_basic_is_refused_on_the_staff_api(brand_a, client_for):
    refused = _issue(client_for(brand_a), password="wrong-password-1")
    assert refused.status_code == 401 and "token" not in refused.json()
    basic = base64.b64encode(b"alpha-hq:hq-password-1").decode()
    client = client_for(brand_a)
    client.credentials(HTTP_AUTHORIZATION=f"Basic {basic}")
    response = client.get("/api/v1/staff/stores")  # even with the right password
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Token")
    assert response.json()["error"]["code"] == "not_authenticated"


def test_checking_a_token_does_not_hash_a_password(brand_a, in_schema, client_for, monkeypatch):
    raw = _issue(client_for(brand_a)).json()["token"]
    calls = []
    import django.contrib.auth.hashers as hashers

    monkeypatch.setattr(hashers, "check_password", lambda *a, **k: calls.append(a) or False)
    with in_schema(brand_a):
        assert api_token_check(raw).username == "alpha-hq"
        assert api_token_check(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert calls == []


def test_last_used_is_written_only_when_stale(brand_a, in_schema, client_for):
    import datetime as dt

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    raw = _issue(client_for(brand_a)).json()
    client = client_for(brand_a)
    client.credentials(HTTP_AUTHORIZATION=f"Token {raw['token']}")
    assert client.get("/api/v1/staff/stores").status_code == 200
    with in_schema(brand_a):
        first = ApiToken.objects.get(pk=raw["id"]).last_used_at
    with CaptureQueriesContext(connection) as fresh:
        assert client.get("/api/v1/staff/stores").status_code == 200
    assert not [q for q in fresh.captured_queries if q["sql"].startswith("UPDATE")]
    with in_schema(brand_a):
        ApiToken.objects.filter(pk=raw["id"]).update(last_used_at=first - dt.timedelta(minutes=6))
    assert client.get("/api/v1/staff/stores").status_code == 200
    with in_schema(brand_a):
        assert ApiToken.objects.get(pk=raw["id"]).last_used_at >= first
