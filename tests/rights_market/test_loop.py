"""The whole loop across two brands, through the APIs each party uses: alpha publishes a coupon template to the
market, beta lists it, beta's members spend beta's points on it, claim it in alpha's mini-program (becoming
alpha's members), use it at alpha's store counter (POS, by code) and in alpha's shop; both sides see ROI from
that real use, and the month's netted statement is the same file for both."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import Member
from members.mp_auth import member_token_issue
from miniprograms.services.payments import order_mark_paid
from miniprograms.services.pos import pos_api_key_create
from points.services import points_earn
from rights_market.services.exchanges import exchange_advance
from rights_market.services.settlement import statements_close_month
from tests.conftest import BRAND_PASSWORD
from tests.miniprograms.conftest import build_world
from tests.rights_market.factories import all_rows


def test_publish_list_exchange_claim_use_roi_statement(brand_a, brand_b, fake_wechat, client_for):
    wa = build_world(brand_a, fake_wechat, price_fen=1500)
    wb = build_world(brand_b, fake_wechat, price_fen=800)
    with schema_context(wb.schema):
        for member in (wb.alice, wb.bob):
            points_earn(member=member, points=500, idempotency_key=f"seed-{member.pk}", reason="seed")
        pos_b = pos_api_key_create(store=wb.s1)
    with schema_context(wa.schema):
        pos_a = pos_api_key_create(store=wa.s1)
    connection.set_schema_to_public()
    hq_a = client_for(brand_a).as_staff("alpha-hq", BRAND_PASSWORD)
    hq_b = client_for(brand_b).as_staff("beta-hq", BRAND_PASSWORD)

    def member_at(world, openid):
        return client_for(world.brand).as_member(
            member_token_issue(schema=world.schema, appid=world.app.appid, openid=openid)
        )

    def pos(world, key, receipt):
        client = client_for(world.brand)
        client.credentials(HTTP_AUTHORIZATION=f"PosKey {key}")
        response = client.post("/api/v1/pos/orders", {"receipts": [receipt]}, format="json")
        assert response.status_code == 200, response.content
        return response.json()["results"][0]

    # alpha publishes a coupon template (10 off 20) in one click; beta lists it for 200 of its points
    template = hq_a.post(
        "/api/v1/console/coupon-templates",
        {
            "name": "满20减10",
            "kind": "amount_off",
            "amount_off_fen": 1000,
            "threshold_fen": 2000,
            "total_stock": 10,
            "valid_hours": 24 * 14,
        },
        format="json",
    )
    assert template.status_code == 201, template.content
    [offer] = hq_a.post(
        "/api/v1/market/offers/batch",
        {"coupon_template_ids": [template.json()["id"]], "settlement_price_fen": 300},
        format="json",
    ).json()
    assert offer["id"] in [o["id"] for o in all_rows(hq_b, "/api/v1/market/catalogue")]
    listing = hq_b.post("/api/v1/market/listings", {"offer_id": offer["id"], "points_price": 200}, format="json")
    assert listing.status_code == 201, listing.content

    # two beta members exchange; each sees the voucher in beta's mini-program
    at_beta = {m.pk: client_for(brand_b).as_member(wb.tokens[m.pk]) for m in (wb.alice, wb.bob)}
    codes = {}
    for member_id, client in at_beta.items():
        response = client.post(
            "/api/v1/market/mp/exchanges",
            {"listing_id": listing.json()["id"], "request_key": f"loop-{member_id}"},
            format="json",
        )
        assert response.status_code == 202, response.content
        exchange_advance(exchange_id=response.json()["id"])
        [won] = all_rows(client, "/api/v1/market/mp/vouchers/won")
        assert (won["issuer_id"], won["state"]) == (brand_a.pk, "issued")
        codes[member_id] = won["code"]

    # in alpha's mini-program both claim (each becomes a new alpha member) and get a coupon of alpha's shops
    at_alpha = {wb.alice.pk: member_at(wa, "o-alpha-of-beta-alice"), wb.bob.pk: member_at(wa, "o-alpha-of-beta-bob")}
    coupons, alpha_ids = {}, {}
    for member_id, client in at_alpha.items():
        claimed = client.post("/api/v1/market/mp/vouchers/claim", {"code": codes[member_id]}, format="json").json()
        assert claimed["new_member"] is True
        alpha_ids[member_id] = claimed["member_id"]
        [coupon] = client.get("/api/v1/mp/coupons").json()["results"]
        assert (coupon["code"], coupon["source"], coupon["amount_off_fen"], coupon["threshold_fen"]) == (
            codes[member_id],
            "market",
            1000,
            2000,
        )
        coupons[member_id] = coupon["id"]

    # alice uses hers at alpha's store counter, by code; then buys again there within 30 days (and after)
    line = {"sku_code": wa.sku.code, "quantity": 2, "unit_price_fen": 1500}
    used = pos(wa, pos_a, {"receipt_no": "A-1", "coupon_code": codes[wb.alice.pk], "lines": [line]})
    assert used["status"] == "created", used
    again = pos(wa, pos_a, {"receipt_no": "A-2", "coupon_code": codes[wb.alice.pk], "lines": [line]})
    assert (again["status"], again["error"]["code"]) == ("error", "coupon_unusable")
    with schema_context(wa.schema):  # she is now alpha's member, homed at the store (the POS key's scope)
        Member.objects.filter(pk=alpha_ids[wb.alice.pk]).update(store=wa.s1)
    connection.set_schema_to_public()
    later = {"member_id": alpha_ids[wb.alice.pk], "lines": [{**line, "quantity": 1}]}
    pos(wa, pos_a, {"receipt_no": "A-3", "sold_at": (timezone.now() + timedelta(days=5)).isoformat(), **later})
    pos(wa, pos_a, {"receipt_no": "A-4", "sold_at": (timezone.now() + timedelta(days=40)).isoformat(), **later})

    # bob uses his in alpha's shop and pays
    order = at_alpha[wb.bob.pk].post(
        "/api/v1/mp/orders",
        {"shop_id": wa.shop.pk, "items": [{"sku_id": wa.sku.pk, "quantity": 2}], "coupon_id": coupons[wb.bob.pk]},
        format="json",
    )
    assert order.status_code == 201, order.content
    assert (order.json()["discount_fen"], order.json()["total_fen"]) == (1000, 2000)
    with schema_context(wa.schema):
        assert (
            order_mark_paid(
                out_trade_no=order.json()["number"],
                transaction_id="wx-loop-1",
                total_fen=2000,
                paid_at=None,
                appid=wa.app.appid,
            )
            == "paid"
        )
    connection.set_schema_to_public()

    # beta's alice comes back to a beta store within 30 days (her home store: a POS key records sales only for
    # members in its franchisee's scope)
    with schema_context(wb.schema):
        Member.objects.filter(pk=wb.alice.pk).update(store=wb.s1)
    connection.set_schema_to_public()
    assert (
        pos(
            wb,
            pos_b,
            {
                "receipt_no": "B-1",
                "member_id": wb.alice.pk,
                "sold_at": (timezone.now() + timedelta(days=3)).isoformat(),
                "lines": [{"sku_code": wb.sku.code, "quantity": 1, "unit_price_fen": 800}],
            },
        )["status"]
        == "created"
    )
    for client in at_beta.values():  # beta's mini-program shows the vouchers used
        assert all_rows(client, "/api/v1/market/mp/vouchers/won")[0]["state"] == "used"

    # ROI, issuer side: 2 used, sales on them 2000 + 2000, 2 new members who paid 2000 + 1500 + 2000 in 30 days
    [roi_a] = hq_a.get("/api/v1/market/roi/issuer").json()["offers"]
    assert {
        k: roi_a[k]
        for k in (
            "redemptions",
            "vouchers_used",
            "sales_fen",
            "new_members",
            "new_members_sales_30d_fen",
            "settlement_received_fen",
            "cost_per_new_member_fen",
        )
    } == {
        "redemptions": 2,
        "vouchers_used": 2,
        "sales_fen": 4000,
        "new_members": 2,
        "new_members_sales_30d_fen": 5500,
        "settlement_received_fen": 600,
        "cost_per_new_member_fen": 700,
    }
    # ... accepting side: 2 redemptions, 400 points, 1 of 2 came back (800 fen)
    roi_b = hq_b.get("/api/v1/market/roi/accepting").json()
    assert (roi_b["redemptions"], roi_b["points_spent"], roi_b["members_redeemed"], roi_b["members_came_back"]) == (
        2,
        400,
        2,
        1,
    )
    assert (roi_b["redeemers"]["orders_30d"], roi_b["redeemers"]["sales_30d_fen"]) == (1, 800)
    assert hq_b.get("/api/v1/market/roi/issuer").json()["offers"] == []

    # the month's statement: beta pays alpha 600, the same CSV on both hosts
    [statement] = statements_close_month(month=timezone.localdate().replace(day=1))
    assert (statement.payer_id, statement.payee_id, statement.total_fen, statement.line_count) == (
        brand_b.pk,
        brand_a.pk,
        600,
        2,
    )
    files = [hq.get(f"/api/v1/market/statements/{statement.pk}.csv").content.decode("utf-8-sig") for hq in (hq_a, hq_b)]
    assert files[0] == files[1]
    rows = list(csv.reader(io.StringIO(files[0])))
    assert ["net payable (yuan)", "6.00", "payer", "Beta", "payee", "Alpha"] in rows
    for hq in (hq_a, hq_b):
        assert [s["id"] for s in all_rows(hq, "/api/v1/market/statements")] == [statement.pk]
