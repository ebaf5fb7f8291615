"""Defect 1: a typed phone never claims an imported member; a phone WeChat vouches for does."""

import pytest

from members.models import Member
from members.mp_auth import member_token_issue
from members.selectors import phone_hash

PHONE = "13800138000"


def _client(client_for, brand, openid):
    return client_for(brand).as_member(
        member_token_issue(schema=brand.schema_name, appid=f"wx{brand.slug}000000000001", openid=openid)
    )


@pytest.fixture
def imported(brand_a, in_schema):
    with in_schema(brand_a):
        return Member.objects.create(
            phone=PHONE, phone_hash=phone_hash(PHONE), name="Victim Wang", join_channel=Member.Channel.IMPORT
        )


def test_a_typed_phone_of_an_imported_member_claims_nothing_and_shows_nothing(brand_a, in_schema, client_for, imported):
    # given an imported member P; when another openid registers with P typed
    client = _client(client_for, brand_a, "o-attacker")
    response = client.post("/api/v1/mp/members", {"phone": PHONE, "name": "Attacker"}, format="json")
    # then: no claim, nothing of the imported row in the answer, and the session is still not a member
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "phone_verification_required"
    assert "Victim" not in response.content.decode() and str(imported.pk) not in response.json()["error"]["message"]
    with in_schema(brand_a):
        assert Member.objects.get(pk=imported.pk).openid is None
        assert Member.objects.filter(openid="o-attacker").count() == 0
    me = client.get("/api/v1/mp/me")
    assert me.status_code == 404 and "Victim" not in me.content.decode()


def test_a_phone_proven_by_wechat_claims_the_imported_member(brand_a, in_schema, client_for, imported, fake_wechat):
    fake_wechat.phone_codes["pc-1"] = PHONE
    client = _client(client_for, brand_a, "o-owner")
    response = client.post("/api/v1/mp/members", {"phone_code": "pc-1", "name": "ignored"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["id"] == imported.pk and response.json()["name"] == "Victim Wang"
    [call] = fake_wechat.calls_to("/wxa/business/getuserphonenumber")
    assert call[0] == "POST" and call[2]["access_token"].startswith("AT_") and b'"pc-1"' in call[3]
    with in_schema(brand_a):
        assert Member.objects.get(pk=imported.pk).openid == "o-owner"


def test_a_used_or_foreign_phone_code_claims_nothing(brand_a, in_schema, client_for, imported, fake_wechat):
    fake_wechat.phone_codes["pc-foreign"] = (PHONE, "wxsomeoneelse00001")
    response = _client(client_for, brand_a, "o-x").post(
        "/api/v1/mp/members", {"phone_code": "pc-foreign"}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_phone_code"
    response = _client(client_for, brand_a, "o-x").post(
        "/api/v1/mp/members", {"phone_code": "never-issued"}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["fields"]["phone_code"]
    with in_schema(brand_a):
        assert Member.objects.get(pk=imported.pk).openid is None


def test_a_proven_phone_that_differs_from_the_typed_one_is_refused(brand_a, client_for, fake_wechat):
    fake_wechat.phone_codes["pc-2"] = "13900139000"
    response = _client(client_for, brand_a, "o-y").post(
        "/api/v1/mp/members", {"phone_code": "pc-2", "phone": PHONE}, format="json"
    )
    assert response.status_code == 400 and "phone" in response.json()["error"]["fields"]


def test_a_typed_new_phone_still_registers_a_new_member(brand_a, in_schema, client_for):
    response = _client(client_for, brand_a, "o-z").post("/api/v1/mp/members", {"phone": "13700137000"}, format="json")
    assert response.status_code == 201


def test_the_proof_is_per_brand(brand_a, brand_b, in_schema, client_for, fake_wechat):
    # a code WeChat issued to brand A's mini-program does not prove a phone on brand B
    fake_wechat.phone_codes["pc-a"] = (PHONE, "wxalpha000000000001")
    with in_schema(brand_b):
        victim = Member.objects.create(
            phone=PHONE, phone_hash=phone_hash(PHONE), name="B member", join_channel=Member.Channel.IMPORT
        )
    response = _client(client_for, brand_b, "o-b").post("/api/v1/mp/members", {"phone_code": "pc-a"}, format="json")
    assert response.status_code == 400
    with in_schema(brand_b):
        assert Member.objects.get(pk=victim.pk).openid is None
