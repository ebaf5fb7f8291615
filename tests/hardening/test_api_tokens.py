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


def test_the_token_read_is_the_token_its_user_and_their_scope_row_as_the_orm_reads_them(brand_a, brand_b, in_schema):
    # given users of every kind in brand A (HQ, a store manager, a guide's login, one with no profile), a token each
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.permissions import SCOPE_FIELDS, SCOPE_ROW_ATTR
    from core.tokens import api_token_issue
    from members.models import StaffProfile
    from members.services import franchisee_create, guide_create, store_create

    User = get_user_model()
    with in_schema(brand_a):
        franchisee = franchisee_create(name="Token franchisee")
        store = store_create(code="TK1", name="Token store", kind="franchise", franchisee=franchisee)
        manager = User.objects.create_user(username="tk-manager", password="tk-password-1")
        StaffProfile.objects.create(user=manager, franchisee=franchisee, role="store_manager")
        guide_user = User.objects.create_user(username="tk-guide", password="tk-password-1")
        guide = guide_create(store=store, name="Tk", employee_no="TK-G1")
        guide.user = guide_user
        guide.active = False
        guide.save(update_fields=["user", "active"])
        nobody = User.objects.create_user(username="tk-nobody", password="tk-password-1", first_name="No")
        users = [User.objects.get(username="alpha-hq"), manager, guide_user, nobody]
        raws = [api_token_issue(user=user, name="t")[1] for user in users]
        for user, raw in zip(users, raws, strict=True):
            # when the token is checked (its last use already written)
            api_token_check(raw)
            with CaptureQueriesContext(connection) as queries:
                found = api_token_check(raw)

            # then one statement gives the whole user and the scope row the ORM reads for them
            assert len(queries.captured_queries) == 1
            expected = User.objects.get(pk=user.pk)
            assert found.__dict__.keys() >= {f.attname for f in User._meta.concrete_fields}
            assert {f.attname: getattr(found, f.attname) for f in User._meta.concrete_fields} == {
                f.attname: getattr(expected, f.attname) for f in User._meta.concrete_fields
            }
            row = User.objects.filter(pk=user.pk).values(*SCOPE_FIELDS).get()
            assert getattr(found, SCOPE_ROW_ATTR) == row, user.username
        assert getattr(api_token_check(raws[1]), SCOPE_ROW_ATTR)["staff_profile__franchisee_id"] == franchisee.pk
        assert getattr(api_token_check(raws[2]), SCOPE_ROW_ATTR)["guide__active"] is False
    # and brand B's schema does not know brand A's tokens
    with in_schema(brand_b):
        assert api_token_check(raws[0]) is None
