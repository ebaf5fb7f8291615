"""The commission report per store, with real entries in each state, as HQ and as two store managers."""

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from members.models import Guide
from miniprograms.models import CommissionEntry, Order, ShopSku
from miniprograms.services.guides import (
    commission_rule_set,
    commissions_mark_payable,
    guide_share_code_create,
    guide_touch_record,
)
from miniprograms.services.payments import order_mark_paid_from_notification

pytestmark = pytest.mark.django_db


def paid(w, client, fake, shop, qty) -> int:
    order_id = client.post(
        "/api/v1/mp/orders", {"shop_id": shop.pk, "items": [{"sku_id": w.sku.pk, "quantity": qty}]}, format="json"
    ).json()["id"]
    assert client.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200
    with schema_context(w.schema):
        assert (
            order_mark_paid_from_notification(data=fake.pay_notification(Order.objects.get(pk=order_id).number))
            == "paid"
        )
    return order_id


def test_report_sums_each_state_per_store_within_the_managers_scope(
    world, member_client, manager_client, hq_client, fake_wechat
):
    with schema_context(world.schema):
        commission_rule_set(product=world.product, rate_bp=1000)  # 10%
        ShopSku.objects.create(shop=world.shop2, sku=world.sku, stock=10, price_fen=1000)
        guide_2 = Guide.objects.create(name="G2", employee_no="E-two", store=world.s2)
        guide_touch_record(
            member=world.alice, scene=guide_share_code_create(guide=world.guide, shop=world.shop1)["scene"]
        )
        guide_touch_record(member=world.bob, scene=guide_share_code_create(guide=guide_2, shop=world.shop2)["scene"])
    alice, bob = member_client(world, world.alice), member_client(world, world.bob)
    # store S1 (franchisee F1): 900 fen a unit; one order stays pending, one becomes payable, one is refunded
    pending = paid(world, alice, fake_wechat, world.shop1, 1)
    payable = paid(world, alice, fake_wechat, world.shop1, 2)
    refunded = paid(world, alice, fake_wechat, world.shop1, 3)
    # store S2 (franchisee F2): 1,000 fen
    paid(world, bob, fake_wechat, world.shop2, 1)
    with schema_context(world.schema):
        CommissionEntry.objects.filter(order_id=payable).update(payable_at=timezone.now())
        assert commissions_mark_payable() == 1
        assert [CommissionEntry.objects.get(order_id=o).amount_fen for o in (pending, payable, refunded)] == [
            90,
            180,
            270,
        ]
    refund_id = alice.post(f"/api/v1/mp/orders/{refunded}/refund").json()["refund_id"]
    assert manager_client(world, "m1").post(f"/api/v1/console/refunds/{refund_id}/approve").status_code == 200

    s1 = {
        "store_id": world.s1.pk,
        "store_code": "S1",
        "store_name": "One",
        "orders": 3,
        "sales_fen": 5400,
        "pending_fen": 90,
        "payable_fen": 180,
        "reversed_fen": 270,
    }
    s2 = {
        "store_id": world.s2.pk,
        "store_code": "S2",
        "store_name": "Two",
        "orders": 1,
        "sales_fen": 1000,
        "pending_fen": 100,
        "payable_fen": 0,
        "reversed_fen": 0,
    }
    assert manager_client(world, "m1").get("/api/v1/console/reports/commission").json()["results"] == [s1]
    assert manager_client(world, "m2").get("/api/v1/console/reports/commission").json()["results"] == [s2]
    assert hq_client(world).get("/api/v1/console/reports/commission").json()["results"] == [s1, s2]
