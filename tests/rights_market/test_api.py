"""The market's APIs, each with two brands (alpha issues, beta accepts) and two identities where it matters."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import Member, Store
from members.mp_auth import member_token_issue
from rights_market.brandside.models import Voucher
from rights_market.models import Exchange, Listing, Offer
from rights_market.services.exchanges import exchange_advance
from rights_market.services.settlement import statements_close_month
from tests.conftest import BRAND_PASSWORD
from tests.rights_market.factories import all_rows, listing_make, member_make, offer_make

OFFER = {
    "kind": "coupon",
    "title": "30 off 100",
    "face_value_fen": 3000,
    "total_stock": 50,
    "settlement_price_fen": 500,
    "per_member_limit": 2,
}


@pytest.fixture
def hq(client_for):
    def make(brand):
        return client_for(brand).as_staff(f"{brand.slug}-hq", BRAND_PASSWORD)

    return make


def token_for(brand, openid: str) -> str:
    return member_token_issue(schema=brand.schema_name, appid=f"wx{brand.slug}000000000001", openid=openid)


@pytest.fixture
def member_client(client_for):
    def make(brand, *, points: int = 0, register: bool = True):
        openid = f"o-{uuid.uuid4().hex[:16]}"
        member = member_make(brand, points=points, openid=openid) if register else None
        connection.set_schema_to_public()
        return client_for(brand).as_member(token_for(brand, openid)), member

    return make


class TestPublishing:
    def test_issuer_publishes_and_only_it_manages_the_offer(self, brand_a, brand_b, hq):
        created = hq(brand_a).post("/api/v1/market/offers", OFFER, format="json")
        assert created.status_code == 201, created.content
        offer_id = created.json()["id"]
        assert Offer.objects.get(pk=offer_id).issuer_id == brand_a.pk

        assert hq(brand_b).post(f"/api/v1/market/offers/{offer_id}/pause").status_code == 404
        assert (
            hq(brand_b).post(f"/api/v1/market/offers/{offer_id}/restock", {"add": 5}, format="json").status_code == 404
        )
        assert offer_id not in [o["id"] for o in all_rows(hq(brand_b), "/api/v1/market/offers")]

        assert hq(brand_a).post(f"/api/v1/market/offers/{offer_id}/pause").json()["status"] == "paused"
        assert hq(brand_a).post(f"/api/v1/market/offers/{offer_id}/resume").json()["status"] == "live"
        restocked = hq(brand_a).post(f"/api/v1/market/offers/{offer_id}/restock", {"add": 5}, format="json")
        assert (restocked.json()["total_stock"], restocked.json()["remaining_stock"]) == (55, 55)
        assert hq(brand_a).post(f"/api/v1/market/offers/{offer_id}/end").json()["status"] == "ended"
        assert hq(brand_a).post(f"/api/v1/market/offers/{offer_id}/resume").status_code == 409

    def test_one_click_publishes_all_templates_or_none(self, brand_a, hq):
        templates = [dict(OFFER, title=f"T{i}", source_ref=f"coupon_template:{i}") for i in range(3)]
        response = hq(brand_a).post("/api/v1/market/offers/batch", {"templates": templates}, format="json")
        assert response.status_code == 201 and len(response.json()) == 3
        again = [dict(OFFER, title="T9", source_ref="coupon_template:9"), templates[0]]
        response = hq(brand_a).post("/api/v1/market/offers/batch", {"templates": again}, format="json")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "already_published"
        assert not Offer.objects.filter(source_ref="coupon_template:9").exists()

    def test_one_click_publishes_the_brands_own_coupon_templates(self, brand_a, brand_b, hq):
        from miniprograms.services.coupons import coupon_template_create

        with schema_context(brand_a.schema_name):
            t1 = coupon_template_create(
                name="满300减50",
                kind="amount_off",
                total_stock=100,
                amount_off_fen=5_000,
                threshold_fen=30_000,
                valid_hours=72,
            )
            t2 = coupon_template_create(
                name="满500减100",
                kind="amount_off",
                total_stock=40,
                amount_off_fen=10_000,
                valid_hours=24 * 30,
                per_member_limit=2,
            )
        response = hq(brand_a).post(
            "/api/v1/market/offers/batch",
            {
                "coupon_template_ids": [t1.pk, t2.pk],
                "settlement_price_fen": 300,
                "stock_per_template": 60,
            },
            format="json",
        )

        assert response.status_code == 201, response.content
        offers = {
            o.source_ref: o for o in Offer.objects.filter(issuer=brand_a, source_ref__startswith="coupon_template:")
        }
        first, second = offers[f"coupon_template:{t1.pk}"], offers[f"coupon_template:{t2.pk}"]
        assert (first.title, first.face_value_fen, first.total_stock, first.voucher_valid_days) == (
            "满300减50",
            5_000,
            60,
            3,
        )
        assert (second.total_stock, second.per_member_limit, second.settlement_price_fen) == (40, 2, 300)
        # publishing again is refused, and another brand's template ids mean nothing on its host
        again = hq(brand_a).post("/api/v1/market/offers/batch", {"coupon_template_ids": [t1.pk]}, format="json")
        assert again.status_code == 409
        assert (
            hq(brand_b)
            .post("/api/v1/market/offers/batch", {"coupon_template_ids": [t2.pk + 10_000]}, format="json")
            .status_code
            == 404
        )

    def test_batch_needs_one_kind_of_input(self, brand_a, hq):
        response = hq(brand_a).post("/api/v1/market/offers/batch", {}, format="json")
        assert response.status_code == 400

    def test_members_cannot_publish(self, brand_a, member_client):
        client, _ = member_client(brand_a)
        assert client.post("/api/v1/market/offers", OFFER, format="json").status_code in (401, 403)


class TestBrowsingAndListing:
    def test_catalogue_shows_terms_and_stock_of_other_brands_only(self, brand_a, brand_b, hq):
        offer = offer_make(brand_a, stock=7)
        rows = all_rows(hq(brand_b), "/api/v1/market/catalogue")
        row = next(r for r in rows if r["id"] == offer.pk)
        assert row["remaining_stock"] == 7
        assert not {"total_stock", "redemptions", "sales_fen", "members"} & set(row)
        assert offer.pk not in [r["id"] for r in all_rows(hq(brand_a), "/api/v1/market/catalogue")]

    def test_listing_and_delisting_are_per_brand(self, brand_a, brand_b, hq):
        offer = offer_make(brand_a)
        created = hq(brand_b).post(
            "/api/v1/market/listings", {"offer_id": offer.pk, "points_price": 900}, format="json"
        )
        assert created.status_code == 201
        listing_id = created.json()["id"]
        assert hq(brand_a).post(f"/api/v1/market/listings/{listing_id}/delist").status_code == 404
        own = hq(brand_a).post("/api/v1/market/listings", {"offer_id": offer.pk, "points_price": 1}, format="json")
        assert own.status_code == 404  # an issuer does not list its own offer
        assert listing_id not in [r["id"] for r in all_rows(hq(brand_a), "/api/v1/market/listings")]
        assert hq(brand_b).post(f"/api/v1/market/listings/{listing_id}/delist").json()["status"] == "delisted"
        assert Listing.objects.get(pk=listing_id).status == "delisted"


class TestRedeeming:
    def test_member_redeems_and_sees_only_their_own_exchange(self, brand_a, brand_b, member_client):
        listing = listing_make(brand_b, offer_make(brand_a), points_price=100)
        client, member = member_client(brand_b, points=300)
        other, _ = member_client(brand_b, points=300)

        listed = all_rows(client, "/api/v1/market/mp/listings")
        assert [r["id"] for r in listed] == [listing.pk]
        response = client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "r1"}, format="json"
        )
        assert response.status_code == 202, response.content
        exchange_id = response.json()["id"]
        again = client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "r1"}, format="json"
        )
        assert (again.status_code, again.json()["id"]) == (200, exchange_id)
        exchange_advance(exchange_id=exchange_id)

        detail = client.get(f"/api/v1/market/mp/exchanges/{exchange_id}").json()
        assert detail["status"] == "fulfilled" and detail["code"]
        assert other.get(f"/api/v1/market/mp/exchanges/{exchange_id}").status_code == 404
        assert all_rows(other, "/api/v1/market/mp/exchanges") == []

    def test_a_voucher_comes_back_fulfilled_with_its_code_and_a_sold_out_offer_is_a_409(
        self, brand_a, brand_b, member_client
    ):
        listing = listing_make(brand_b, offer_make(brand_a, stock=1), points_price=100)
        client, member = member_client(brand_b, points=300)
        late, late_member = member_client(brand_b, points=300)
        body = {"listing_id": listing.pk, "request_key": "now"}
        response = client.post("/api/v1/market/mp/exchanges", body, format="json")
        assert response.status_code == 202, response.content
        won = response.json()
        assert (won["status"], won["points"], won["undo_reason"]) == ("fulfilled", 100, "")
        with schema_context(brand_a.schema_name):
            assert won["code"] == Voucher.objects.get(exchange_id=won["id"]).code
        connection.set_schema_to_public()
        assert client.get(f"/api/v1/market/mp/exchanges/{won['id']}").json() == won
        again = client.post("/api/v1/market/mp/exchanges", body, format="json")  # a retry, stock now gone
        assert (again.status_code, again.json()) == (200, won)
        refused = late.post("/api/v1/market/mp/exchanges", body, format="json")
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "sold_out"
        assert not Exchange.objects.filter(accepting_brand=brand_b, member_id=late_member.pk).exists()

    def test_a_member_short_of_points_is_refused_at_once_in_the_error_shape(self, brand_a, brand_b, member_client):
        listing = listing_make(brand_b, offer_make(brand_a), points_price=100)
        client, member = member_client(brand_b, points=99)
        response = client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "p"}, format="json"
        )
        assert response.status_code == 409, response.content
        error = response.json()["error"]
        assert error["code"] == "insufficient_points" and "100" in error["message"]
        assert error["fields"] == {"points": ["needs 100, balance 99"]}
        assert not Exchange.objects.filter(accepting_brand=brand_b, member_id=member.pk).exists()

    def test_a_member_of_one_brand_cannot_redeem_on_or_through_another(
        self, brand_a, brand_b, member_client, client_for
    ):
        listing = listing_make(brand_b, offer_make(brand_a), points_price=100)
        alpha_client, _ = member_client(brand_a, points=300)
        # alpha's member cannot use beta's listing on alpha's host ...
        response = alpha_client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "x"}, format="json"
        )
        assert response.status_code == 404
        # ... nor take their alpha token to beta's host
        beta_host = client_for(brand_b).as_member(alpha_client._credentials["HTTP_AUTHORIZATION"].split()[1])
        assert (
            beta_host.post(
                "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "x"}, format="json"
            ).status_code
            == 401
        )
        assert not Exchange.objects.filter(listing=listing).exists()

    def test_staff_see_their_side_and_the_issuer_never_sees_member_ids(self, brand_a, brand_b, hq, member_client):
        listing = listing_make(brand_b, offer_make(brand_a), points_price=100)
        client, member = member_client(brand_b, points=300)
        exchange_id = client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "k"}, format="json"
        ).json()["id"]
        accepting = all_rows(hq(brand_b), "/api/v1/market/exchanges")
        assert [(r["id"], r["member_id"]) for r in accepting] == [(exchange_id, member.pk)]
        issuing = all_rows(hq(brand_a), "/api/v1/market/exchanges?side=issuing")
        assert [r["id"] for r in issuing] == [exchange_id]
        assert "member_id" not in issuing[0] and "code" not in issuing[0]
        assert all_rows(hq(brand_a), "/api/v1/market/exchanges") == []
        assert all_rows(hq(brand_b), "/api/v1/market/exchanges?side=issuing") == []
        # one view per side; the query form above routes to them
        assert all_rows(hq(brand_b), "/api/v1/market/exchanges/accepting") == accepting
        assert all_rows(hq(brand_a), "/api/v1/market/exchanges/issuing") == issuing
        assert all_rows(hq(brand_a), "/api/v1/market/exchanges/accepting") == []
        assert all_rows(hq(brand_b), "/api/v1/market/exchanges/issuing") == []


class TestVouchers:
    @pytest.fixture
    def voucher_code(self, brand_a, brand_b, member_client):
        listing = listing_make(brand_b, offer_make(brand_a), points_price=100)
        client, _ = member_client(brand_b, points=300)
        exchange_id = client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "v"}, format="json"
        ).json()["id"]
        exchange_advance(exchange_id=exchange_id)
        return client.get(f"/api/v1/market/mp/exchanges/{exchange_id}").json()["code"]

    def test_claiming_makes_a_member_of_the_issuer_with_channel_rights_market(
        self, brand_a, brand_b, voucher_code, member_client
    ):
        newcomer, _ = member_client(brand_a, register=False)
        claimed = newcomer.post("/api/v1/market/mp/vouchers/claim", {"code": voucher_code}, format="json")
        assert claimed.status_code == 200, claimed.content
        assert claimed.json()["new_member"] is True
        with schema_context(brand_a.schema_name):
            member = Member.objects.get(pk=claimed.json()["member_id"])
            assert member.join_channel == Member.Channel.RIGHTS_MARKET
            assert member.phone == "" and member.name == ""  # nothing of the accepting brand's member
        connection.set_schema_to_public()
        someone_else, _ = member_client(brand_a)
        assert (
            someone_else.post("/api/v1/market/mp/vouchers/claim", {"code": voucher_code}, format="json").status_code
            == 409
        )
        beta_member, _ = member_client(brand_b)  # the voucher is not in beta's schema
        assert (
            beta_member.post("/api/v1/market/mp/vouchers/claim", {"code": voucher_code}, format="json").status_code
            == 404
        )

    def test_a_member_sees_their_vouchers_in_both_brands_mini_programs(self, brand_a, brand_b, member_client, hq):
        listing = listing_make(brand_b, offer_make(brand_a), points_price=100)
        winner, _ = member_client(brand_b, points=300)
        other, _ = member_client(brand_b, points=300)
        exchange_id = winner.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "w"}, format="json"
        ).json()["id"]
        exchange_advance(exchange_id=exchange_id)
        [won] = all_rows(winner, "/api/v1/market/mp/vouchers/won")
        assert (won["exchange_id"], won["issuer_id"], won["state"], won["claimed"]) == (
            exchange_id,
            brand_a.pk,
            "issued",
            False,
        )
        assert all_rows(other, "/api/v1/market/mp/vouchers/won") == []
        assert all_rows(other, "/api/v1/market/mp/vouchers/claimed") == []

        at_alpha, _ = member_client(brand_a, register=False)
        assert (
            at_alpha.post("/api/v1/market/mp/vouchers/claim", {"code": won["code"]}, format="json").status_code == 200
        )
        [claimed] = all_rows(at_alpha, "/api/v1/market/mp/vouchers/claimed")
        assert (claimed["code"], claimed["state"]) == (won["code"], "issued")
        assert all_rows(at_alpha, "/api/v1/market/mp/vouchers/won") == []  # won at beta, not here
        with schema_context(brand_a.schema_name):
            Store.objects.create(code="A002", name="Alpha Two")
        connection.set_schema_to_public()
        assert (
            hq(brand_a)
            .post("/api/v1/market/vouchers/use", {"code": won["code"], "store_code": "A002"}, format="json")
            .status_code
            == 200
        )
        assert all_rows(winner, "/api/v1/market/mp/vouchers/won")[0]["state"] == "used"
        assert all_rows(at_alpha, "/api/v1/market/mp/vouchers/claimed")[0]["state"] == "used"
        with schema_context(brand_a.schema_name):
            Voucher.objects.filter(code=won["code"]).update(status="issued", valid_until=timezone.now())
        connection.set_schema_to_public()
        assert all_rows(winner, "/api/v1/market/mp/vouchers/won")[0]["state"] == "expired"

    def test_only_the_issuer_stores_take_the_voucher_once(self, brand_a, brand_b, voucher_code, hq):
        with schema_context(brand_a.schema_name):
            Store.objects.create(code="A001", name="Alpha One", city="上海")
        with schema_context(brand_b.schema_name):
            Store.objects.create(code="A001", name="Beta lookalike")
        connection.set_schema_to_public()
        body = {"code": voucher_code, "store_code": "A001", "order_amount_fen": 12800}
        assert hq(brand_b).post("/api/v1/market/vouchers/use", body, format="json").status_code == 404
        assert hq(brand_a).post("/api/v1/market/vouchers/use", body, format="json").json()["status"] == "used"
        assert hq(brand_a).post("/api/v1/market/vouchers/use", body, format="json").status_code == 409
        with schema_context(brand_a.schema_name):
            assert Voucher.objects.get(code=voucher_code).order_amount_fen == 12800
        connection.set_schema_to_public()

        roi = hq(brand_a).get("/api/v1/market/roi/issuer").json()["offers"]
        assert roi[0]["redemptions"] == 1 and roi[0]["vouchers_used"] == 1 and roi[0]["sales_fen"] == 12800
        assert hq(brand_b).get("/api/v1/market/roi/issuer").json()["offers"] == []
        accepting = hq(brand_b).get("/api/v1/market/roi/accepting").json()
        assert accepting["points_spent"] == 100 and accepting["members_redeemed"] == 1
        assert hq(brand_a).get("/api/v1/market/roi/accepting").json()["points_spent"] == 0


class TestStatements:
    def test_both_sides_confirm_ops_marks_paid(self, brand_a, brand_b, hq, client_for):
        listing = listing_make(brand_b, offer_make(brand_a, settlement_price_fen=250), points_price=100)
        for _ in range(2):
            member = member_make(brand_b, points=100)
            from tests.rights_market.factories import exchange_requested

            exchange_advance(exchange_id=exchange_requested(brand_b, member, listing).pk)
        connection.set_schema_to_public()
        from django.utils import timezone

        [statement] = statements_close_month(month=timezone.localdate())
        assert (statement.total_fen, statement.line_count) == (500, 2)

        for brand in (brand_a, brand_b):
            assert [s["id"] for s in all_rows(hq(brand), "/api/v1/market/statements")] == [statement.pk]
        ops_user = get_user_model().objects.create_superuser("market-ops", password="ops-password-1", email="")
        ops = client_for(None).as_staff(ops_user.username, "ops-password-1")
        assert ops.post(f"/api/v1/ops/market/statements/{statement.pk}/paid").status_code == 409  # not confirmed
        assert hq(brand_b).post(f"/api/v1/market/statements/{statement.pk}/confirm").json()["status"] == "open"
        assert hq(brand_a).post(f"/api/v1/market/statements/{statement.pk}/confirm").json()["status"] == "confirmed"
        assert hq(brand_a).post(f"/api/v1/ops/market/statements/{statement.pk}/paid").status_code == 404
        assert ops.post(f"/api/v1/ops/market/statements/{statement.pk}/paid").json()["status"] == "paid"
        assert statement.pk in [s["id"] for s in all_rows(ops, "/api/v1/ops/market/statements")]


class TestPaging:
    def test_lists_longer_than_a_page_are_read_to_the_end_by_following_next(self, brand_a, brand_b, hq, client_for):
        from tests.rights_market.factories import exchange_requested

        offers = [offer_make(brand_a, title=f"O{i}", per_member_limit=5) for i in range(5)]
        first = hq(brand_b).get("/api/v1/market/catalogue?page_size=2").json()
        assert len(first["results"]) == 2 and first["next"] and first["previous"] is None
        rows = all_rows(hq(brand_b), "/api/v1/market/catalogue?page_size=2")
        assert [r["id"] for r in rows] == [o.pk for o in reversed(offers)]  # newest first, each once

        listing = listing_make(brand_b, offers[0], points_price=10)
        member = member_make(brand_b, points=100)
        exchanges = [exchange_requested(brand_b, member, listing) for _ in range(5)]
        connection.set_schema_to_public()
        ops_user = get_user_model().objects.create_superuser("market-ops", password="ops-password-1", email="")
        ops = client_for(None).as_staff(ops_user.username, "ops-password-1")
        open_rows = all_rows(ops, "/api/v1/ops/market/exchanges/open?page_size=2")
        assert [r["id"] for r in open_rows] == [e.pk for e in exchanges]  # oldest first, none cut
        assert all_rows(hq(brand_b), "/api/v1/market/exchanges/accepting?page_size=2") == all_rows(
            hq(brand_b), "/api/v1/market/exchanges?page_size=3"
        )
