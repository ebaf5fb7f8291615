import pytest

from members.mp_auth import member_token_issue


def token(brand, openid: str) -> str:
    return member_token_issue(schema=brand.schema_name, appid=f"wx{brand.slug}000000000001", openid=openid)


@pytest.fixture
def mp(world, client_for):
    def make(openid: str, brand=None):
        brand = brand or world.brand
        return client_for(brand).as_member(token(brand, openid))

    return make


def test_register_then_register_again_returns_the_same_member(mp, world):
    client = mp("o-1")
    first = client.post(
        "/api/v1/mp/members", {"phone": "13800138000", "name": "Mei", "store_code": world.s1.code}, format="json"
    )
    assert first.status_code == 201, first.content
    again = client.post("/api/v1/mp/members", {"phone": "13800138000", "name": "Mei"}, format="json")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    body = first.json()
    assert body["phone"] == "*******8000"
    assert body["tier"]["name"] == "Silver"
    assert body["points_balance"] == 0
    assert body["card"]["state"] == "none"


def test_me_shows_guide_tier_and_card(mp, world):
    client = mp("o-1")
    client.post("/api/v1/mp/members", {"phone": "13800138000", "guide_id": world.g1.pk}, format="json")
    response = client.get("/api/v1/mp/me")
    assert response.status_code == 200
    body = response.json()
    assert body["guide"] == {"id": world.g1.pk, "name": "Li", "store": {"code": "F101", "name": "F1 store"}}
    assert body["tier"]["rank"] == 1
    assert "session_key" not in response.content.decode()


def test_me_before_registering_is_404_not_a_member(mp):
    response = mp("o-new").get("/api/v1/mp/me")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_a_member"


def test_unknown_store_code_is_a_field_error_unless_ignored(mp):
    client = mp("o-1")
    response = client.post(
        "/api/v1/mp/members", {"phone": "13800138000", "store_code": "NOPE", "guide_id": 424242}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unknown_link"
    assert set(error["fields"]) == {"store_code", "guide_id"}
    assert client.get("/api/v1/mp/me").status_code == 404

    response = client.post(
        "/api/v1/mp/members",
        {"phone": "13800138000", "store_code": "NOPE", "ignore_unknown_links": True},
        format="json",
    )
    assert response.status_code == 201


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"phone": "12"}, "phone"),
        ({"name": "no phone"}, "phone"),
        ({"phone": "13800138000", "birthday": "1990-13-40"}, "birthday"),
        ({"phone": "13800138000", "gender": "robot"}, "gender"),
    ],
)
def test_bad_registration_input_is_400_in_the_error_shape(mp, payload, field):
    response = mp("o-1").post("/api/v1/mp/members", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_patch_me_edits_name_but_not_phone_or_tier(mp):
    client = mp("o-1")
    client.post("/api/v1/mp/members", {"phone": "13800138000"}, format="json")
    response = client.patch("/api/v1/mp/me", {"phone": "13900000000", "tier": 3}, format="json")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"phone", "tier"}
    response = client.patch("/api/v1/mp/me", {"name": "Mei", "birthday": "1990-05-01"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Mei"
    response = client.patch("/api/v1/mp/me", {"birthday": "1991-05-01"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"birthday": ["already set"]}


def test_a_second_openid_with_the_same_phone_is_409(mp):
    mp("o-1").post("/api/v1/mp/members", {"phone": "13800138000"}, format="json")
    response = mp("o-2").post("/api/v1/mp/members", {"phone": "13800138000"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "phone_taken"


def test_brands_do_not_share_members(mp, world, brand_b):
    mp("o-1").post("/api/v1/mp/members", {"phone": "13800138000", "name": "A"}, format="json")
    # brand A's token on brand B's host
    from tests.helpers import BrandClient

    response = BrandClient(brand_b).as_member(token(world.brand, "o-1")).get("/api/v1/mp/me")
    assert response.status_code == 401
    # the same openid on brand B is not a member there, and registers as a different member
    client_b = mp("o-1", brand=brand_b)
    assert client_b.get("/api/v1/mp/me").status_code == 404
    created = client_b.post("/api/v1/mp/members", {"phone": "13800138000", "name": "B"}, format="json")
    assert created.status_code == 201
    assert client_b.get("/api/v1/mp/me").json()["name"] == "B"
    assert mp("o-1").get("/api/v1/mp/me").json()["name"] == "A"


def test_staff_credentials_are_not_a_member_session(world, client_for):
    response = client_for(world.brand).as_staff("alpha-hq", "hq-password-1").get("/api/v1/mp/me")
    assert response.status_code in (401, 403)
