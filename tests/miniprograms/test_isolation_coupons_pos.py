"""Isolation claims tried for real: a member's coupons are theirs and their brand's; a POS key is its store's."""

import pytest
from django_tenants.utils import schema_context

from miniprograms.models import Order
from miniprograms.services.coupons import coupon_template_create
from miniprograms.services.pos import pos_api_key_create

pytestmark = pytest.mark.django_db


def test_coupons_are_per_member_and_per_brand(world, world_b, member_client):
    with schema_context(world.schema):
        template = coupon_template_create(name="5 off", kind="amount_off", amount_off_fen=500, total_stock=5)
    alice = member_client(world, world.alice)
    claimed = alice.post(f"/api/v1/mp/coupon-templates/{template.pk}/claim")
    assert claimed.status_code == 201, claimed.content

    # alice sees her coupon; bob (same brand) and beta's members see none
    mine = alice.get("/api/v1/mp/coupons").json()["results"]
    assert [(c["id"], c["template_id"], c["amount_off_fen"]) for c in mine] == [
        (claimed.json()["id"], template.pk, 500)
    ]
    assert member_client(world, world.bob).get("/api/v1/mp/coupons").json()["results"] == []
    assert member_client(world_b, world_b.alice).get("/api/v1/mp/coupons").json()["results"] == []
    # beta's member cannot use alpha's coupon id at checkout, nor claim alpha's template by its id
    beta = member_client(world_b, world_b.alice)
    with schema_context(world_b.schema):
        beta_count = Order.objects.count()
    assert (
        beta.post(
            "/api/v1/mp/orders",
            {
                "shop_id": world_b.shop.pk,
                "coupon_id": claimed.json()["id"],
                "items": [{"sku_id": world_b.sku.pk, "quantity": 1}],
            },
            format="json",
        ).status_code
        == 404
    )
    # bob cannot use alice's coupon either
    bob = member_client(world, world.bob)
    assert (
        bob.post(
            "/api/v1/mp/orders",
            {
                "shop_id": world.shop.pk,
                "coupon_id": claimed.json()["id"],
                "items": [{"sku_id": world.sku.pk, "quantity": 1}],
            },
            format="json",
        ).json()["error"]["code"]
        == "coupon_not_found"
    )
    with schema_context(world_b.schema):
        assert Order.objects.count() == beta_count


def _pos(client_for, w, key):
    client = client_for(w.brand)
    client.credentials(HTTP_AUTHORIZATION=f"PosKey {key}")
    return client


def _receipt(w, no):
    return {
        "receipts": [{"receipt_no": no, "lines": [{"sku_code": w.sku.code, "quantity": 1, "unit_price_fen": 1000}]}]
    }


def test_each_pos_key_records_for_its_own_store_only(world, client_for):
    with schema_context(world.schema):
        key_1 = pos_api_key_create(store=world.s1)
        key_2 = pos_api_key_create(store=world.s2)

    one = _pos(client_for, world, key_1).post("/api/v1/pos/orders", _receipt(world, "P-1"), format="json")
    two = _pos(client_for, world, key_2).post("/api/v1/pos/orders", _receipt(world, "P-2"), format="json")
    # store 2's prefix with store 1's secret: neither store
    prefix_2, secret_1 = key_2.split(".", 1)[0], key_1.split(".", 1)[1]
    mixed = _pos(client_for, world, f"{prefix_2}.{secret_1}").post(
        "/api/v1/pos/orders", _receipt(world, "P-3"), format="json"
    )

    assert (one.status_code, two.status_code, mixed.status_code) == (200, 200, 401), (one.content, two.content)
    with schema_context(world.schema):
        recorded = {o.receipt_no: o.store_id for o in Order.objects.filter(channel="pos")}
    assert recorded == {"P-1": world.s1.pk, "P-2": world.s2.pk}
