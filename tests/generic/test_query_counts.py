"""How many statements the reads members hit most run (issue 17), pinned exactly, on data that would expose an
N+1: several tiers, products in several categories, several rooms of several stores, several points lots.

What every request runs before the endpoint's own reads (listed per test): `SET search_path` to public, the host ->
brand look-up (the test settings turn its per-process cache off), `SET search_path` to the brand (sent each time
here: tests run inside a transaction, where core.db_backend always sends it). The fast row shapes (`.values()` rows written
without a serializer) are checked against the serializers they replace.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context
from rest_framework.renderers import JSONRenderer

from livestream.api.outputs import ROOM_VALUES, RoomOut, room_row_out
from livestream.models import LiveRoom
from members.api.views import MeOutputSerializer
from members.models import CardLevel, Guide, Member, Store
from members.mp_auth import member_token_issue
from miniprograms import selectors as shop_selectors
from miniprograms.api.outputs import CatalogItemOut, catalog_item_out
from miniprograms.models import Category, Product, Shop, ShopSku, Sku
from points.api.views import SummaryOutput, summary_out
from points.selectors import member_points_summary
from points.services import points_earn

pytestmark = pytest.mark.django_db

ROUTING = 3  # SET search_path public, host -> brand, SET search_path brand


@pytest.fixture
def world(brand_a):
    now = timezone.now()
    with schema_context(brand_a.schema_name):
        s1 = Store.objects.create(code="QC1", name="Store one", city="Hangzhou")
        s2 = Store.objects.create(code="QC2", name="Store two", city="Hangzhou")
        guide = Guide.objects.create(name="G", employee_no="QC-G1", store=s1)
        tiers = [CardLevel.objects.create(name=f"T{n}", rank=50 + n) for n in range(3)]
        member = Member.objects.create(
            openid="o-qc-1", name="Q", phone="13800138001", store=s1, guide=guide, tier=tiers[2], tier_since=now
        )
        Member.objects.create(openid="o-qc-2", store=s2, tier=tiers[1])
        for n in range(4):
            points_earn(
                member=member,
                points=10 * (n + 1),
                idempotency_key=f"qc-{n}",
                reason="order",
                expires_at=now + timedelta(days=3 * (n + 1)),
            )
        shop = Shop.objects.create(store=s1, name="QC shop")
        categories = [Category.objects.create(name=f"QC cat {n}") for n in range(3)]
        for n in range(6):
            product = Product.objects.create(name=f"QC {n}", category=categories[n % 3] if n < 5 else None)
            for variant in range(2):
                sku = Sku.objects.create(product=product, code=f"QC-{n}-{variant}", price_fen=1000 + n)
                ShopSku.objects.create(shop=shop, sku=sku, price_fen=800 if variant else None, stock=n)
        for n, store in enumerate([None, s1, s2, None, s1]):
            LiveRoom.objects.create(
                name=f"QC room {n}",
                store=store,
                status="live" if n % 2 else "upcoming",
                start_at=now + timedelta(hours=n),
                end_at=now + timedelta(hours=n + 1),
                started_at=now if n % 2 else None,
            )
    token = member_token_issue(schema=brand_a.schema_name, appid="wxalpha000000000001", openid="o-qc-1")
    return {"brand": brand_a, "shop": shop, "token": token}


@pytest.fixture
def member(world, client_for):
    return client_for(world["brand"]).as_member(world["token"])


def _get(client, path: str, expected: int):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    assert len(queries.captured_queries) == expected, f"{len(queries.captured_queries)} statements:\n{sql}"
    assert response.status_code == 200, response.content
    return response.json()


def test_me_is_one_statement(member):
    # the member with tier, exclusive guide, the guide's store and the points balance
    body = _get(member, "/api/v1/mp/me", ROUTING + 1)

    assert body["tier"]["name"] == "T2" and body["guide"]["store"]["code"] == "QC1"
    assert body["points_balance"] == 100 and body["phone"] == "*******8001"
    assert body["joined_at"].endswith("+08:00") and body["tier"]["since"].endswith("Z")  # as the serializer wrote
    assert body["card"] == {
        "state": "none",
        "card_id": None,
        "code": None,
        "membership_number": body["card"]["membership_number"],
    }
    documented = MeOutputSerializer().fields  # the OpenAPI document says what me_out writes
    assert set(body) == set(documented)
    for nested in ("tier", "guide", "card"):
        assert set(body[nested]) == set(documented[nested].fields), nested


def test_points_is_two_statements(member):
    # the member with its account's id and balance; the lots expiring in 30 days
    body = _get(member, "/api/v1/mp/points", ROUTING + 2)

    assert body["balance"] == 100
    assert [lot["points"] for lot in body["expiring_lots"]] == [10, 20, 30, 40]
    assert body["expiring_until"].endswith("+08:00") and body["expiring_lots"][0]["expires_at"].endswith("+08:00")


def test_catalog_is_two_statements_for_any_number_of_products(member, world):
    # the open shop with its store; the shop's SKUs with product and category
    body = _get(member, f"/api/v1/mp/shops/{world['shop'].pk}/catalog", ROUTING + 2)

    assert len(body["results"]) == 12 and body["shop"]["store_code"] == "QC1"
    assert {item["category"] for item in body["results"]} == {"QC cat 0", "QC cat 1", "QC cat 2", ""}
    assert [item["price_fen"] for item in body["results"][:2]] == [1000, 800]


def test_live_rooms_is_one_statement(member):
    # the page of rooms, the member's home store a subquery
    body = _get(member, "/api/v1/mp/live/rooms", ROUTING + 1)

    assert sorted(room["name"] for room in body["results"]) == ["QC room 0", "QC room 1", "QC room 3", "QC room 4"]


def test_live_rooms_follow_the_home_store_of_this_brands_member_only(world, brand_b, client_for):
    # given the same openid registered in brand B with a home store that has a room there
    with schema_context(brand_b.schema_name):
        b_store = Store.objects.create(code="QC1", name="B store")
        Member.objects.create(openid="o-qc-1", store=b_store)
        now = timezone.now()
        LiveRoom.objects.create(
            name="B room", store=b_store, status="live", start_at=now, end_at=now + timedelta(hours=1)
        )
    b_token = member_token_issue(schema=brand_b.schema_name, appid="wxbeta0000000000001", openid="o-qc-1")
    stranger = member_token_issue(schema=world["brand"].schema_name, appid="wxalpha000000000001", openid="o-nobody")

    # when each asks its own brand for the rooms
    on_a = client_for(world["brand"]).as_member(world["token"]).get("/api/v1/mp/live/rooms").json()["results"]
    on_b = client_for(brand_b).as_member(b_token).get("/api/v1/mp/live/rooms").json()["results"]
    not_member = client_for(world["brand"]).as_member(stranger).get("/api/v1/mp/live/rooms").json()["results"]

    # then each brand's member sees their brand's rooms and their own home store's, a session without membership
    # only the brand's
    assert sorted(r["name"] for r in on_a) == ["QC room 0", "QC room 1", "QC room 3", "QC room 4"]
    assert [r["name"] for r in on_b] == ["B room"]
    assert sorted(r["name"] for r in not_member) == ["QC room 0", "QC room 3"]


def test_catalog_rows_are_written_as_the_serializer_writes_them(world):
    with schema_context(world["brand"].schema_name):
        shop = Shop.objects.get(pk=world["shop"].pk)
        fast = [catalog_item_out(row) for row in shop_selectors.shop_catalog_rows(shop=shop)]
        slow = CatalogItemOut(shop_selectors.shop_catalog(shop=shop), many=True).data

    assert fast == [dict(item) for item in slow] and len(fast) == 12


def test_points_summary_is_written_as_the_serializer_wrote_it(world):
    with schema_context(world["brand"].schema_name):
        summary = member_points_summary(openid="o-qc-1", now=timezone.now())

    assert JSONRenderer().render(summary_out(summary)) == JSONRenderer().render(
        SummaryOutput(summary).data
    )  # the documented contract
    assert len(summary.expiring_lots) == 4


def test_room_rows_are_written_as_the_serializer_writes_them(world):
    with schema_context(world["brand"].schema_name):
        rooms = LiveRoom.objects.order_by("id")
        fast = [room_row_out(row) for row in rooms.values(*ROOM_VALUES)]
        slow = RoomOut(rooms, many=True).data

    assert fast == [dict(room) for room in slow] and len(fast) == 5


def test_me_is_written_as_the_orm_read_of_the_member_wrote_it(world, member, brand_b):
    """/mp/me reads the member in one fixed statement of only the fields it shows (members.selectors
    member_profile_of); the answer must be byte for byte what me_out wrote from the ORM's `member_profiles()`."""
    from core.renderers import json_bytes
    from members.api.views import me_out
    from members.selectors import member_profile_of, member_profiles

    brand = world["brand"]
    with schema_context(brand.schema_name):
        Member.objects.filter(openid="o-qc-2").update(
            card_state="activated", card_id="pCARD", card_code="0042", birthday="1990-02-03", name="二号"
        )
        Member.objects.create(openid="o-qc-3")  # no tier, guide, store, points
        openids = ["o-qc-1", "o-qc-2", "o-qc-3"]
        for openid in openids:
            fixed, orm = member_profile_of(openid), member_profiles().get(openid=openid)
            assert json_bytes(me_out(fixed)) == json_bytes(me_out(orm)), openid
        assert member_profile_of("o-nobody") is None
        expected = json_bytes(me_out(member_profiles().get(openid="o-qc-1")))
    assert member.get("/api/v1/mp/me").content == expected
    # another brand's schema has no such member (the statement names no schema: the brand's search path)
    with schema_context(brand_b.schema_name):
        assert member_profile_of("o-qc-1") is None
