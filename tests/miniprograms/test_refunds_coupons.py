import pytest
import xmltodict
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, Coupon, Order, Refund, ShopSku
from miniprograms.services.coupons import coupon_claim, coupon_template_create, coupons_auto_issue
from miniprograms.services.guides import (
    commission_rule_set,
    commissions_mark_payable,
    guide_share_code_create,
    guide_touch_record,
)
from miniprograms.services.payments import order_mark_paid_from_notification
from points.models import PointsEntry

pytestmark = pytest.mark.django_db


def paid_order(w, client, fake, **extra):
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": w.shop.pk, "items": [{"sku_id": w.sku.pk, "quantity": 2}], **extra},
        format="json",
    ).json()["id"]
    client.post(f"/api/v1/mp/orders/{order_id}/pay")
    with schema_context(w.schema):
        data = fake.pay_notification(Order.objects.get(pk=order_id).number)
        assert order_mark_paid_from_notification(data=data) == "paid"
    return order_id


def test_coupon_discount_at_checkout_and_returned_on_refund(world, member_client, hq_client, fake_wechat):
    with schema_context(world.schema):
        template = coupon_template_create(
            name="10% off", kind="percent_off", percent_off=10, total_stock=10, threshold_fen=1500
        )
        commission_rule_set(category=world.category, rate_bp=500)
        scene = guide_share_code_create(guide=world.guide, shop=world.shop)["scene"]
        guide_touch_record(member=world.alice, scene=scene)
    client = member_client(world, world.alice)
    coupon_id = client.post(f"/api/v1/mp/coupon-templates/{template.pk}/claim").json()["id"]
    order_id = paid_order(world, client, fake_wechat, coupon_id=coupon_id)
    with schema_context(world.schema):
        order = Order.objects.get(pk=order_id)
        assert (order.subtotal_fen, order.discount_fen, order.total_fen) == (2000, 200, 1800)
        assert Coupon.objects.get(pk=coupon_id).status == "used"
        assert CommissionEntry.objects.get(order=order).amount_fen == 90
        number = order.number
        assert [(e.kind, e.amount) for e in PointsEntry.objects.filter(reference=order.number)] == [("earn", 18)]

    # when: the member asks, another member cannot, HQ approves
    assert member_client(world, world.bob).post(f"/api/v1/mp/orders/{order_id}/refund").status_code == 404
    refund = client.post(f"/api/v1/mp/orders/{order_id}/refund", {"reason": "changed my mind"}, format="json")
    approved = hq_client(world).post(f"/api/v1/console/refunds/{refund.json()['refund_id']}/approve")
    again = hq_client(world).post(f"/api/v1/console/refunds/{refund.json()['refund_id']}/approve")

    # then
    assert refund.status_code == 201 and approved.json()["status"] == "succeeded"
    assert again.status_code == 409 and again.json()["error"]["code"] == "refund_decided"
    sent = [xmltodict.parse(call[3])["xml"] for call in fake_wechat.calls_to("/secapi/pay/refund")]
    assert [(s["out_trade_no"], s["total_fee"], s["refund_fee"]) for s in sent] == [(number, "1800", "1800")]
    with schema_context(world.schema):
        order = Order.objects.get(pk=order_id)
        assert order.status == "refunded" and Coupon.objects.get(pk=coupon_id).status == "available"
        assert CommissionEntry.objects.get(order=order).status == "reversed"
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10
        assert sorted(e.amount for e in PointsEntry.objects.filter(member=world.alice)) == [-18, 18]
        assert sent[0]["out_refund_no"] == Refund.objects.get(order=order).number
        assert commissions_mark_payable() == 0


def test_store_manager_of_other_franchisee_cannot_approve(world, member_client, manager_client, fake_wechat):
    client = member_client(world, world.alice)
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop1.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    ).json()["id"]
    client.post(f"/api/v1/mp/orders/{order_id}/pay")
    with schema_context(world.schema):
        order_mark_paid_from_notification(data=fake_wechat.pay_notification(Order.objects.get(pk=order_id).number))
    refund_id = client.post(f"/api/v1/mp/orders/{order_id}/refund").json()["refund_id"]

    assert manager_client(world, "m2").post(f"/api/v1/console/refunds/{refund_id}/approve").status_code == 404
    rejected = manager_client(world, "m1").post(f"/api/v1/console/refunds/{refund_id}/reject")
    assert rejected.json()["status"] == "rejected"
    with schema_context(world.schema):
        assert Order.objects.get(pk=order_id).status == "paid" and Refund.objects.get(pk=refund_id)


def test_unpaid_order_cannot_be_refunded(world, member_client):
    client = member_client(world, world.alice)
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    ).json()["id"]
    response = client.post(f"/api/v1/mp/orders/{order_id}/refund")
    assert response.status_code == 409 and response.json()["error"]["code"] == "order_not_refundable"


def test_coupon_threshold_not_reached_is_rejected(world, member_client):
    with schema_context(world.schema):
        template = coupon_template_create(
            name="big", kind="amount_off", amount_off_fen=500, total_stock=5, threshold_fen=5000
        )
        coupon = coupon_claim(member=world.alice, template_id=template.pk)
    response = member_client(world, world.alice).post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}], "coupon_id": coupon.pk},
        format="json",
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "coupon_not_applicable"
    with schema_context(world.schema):
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10


def test_auto_issue_after_live_show_is_idempotent_and_valid_72h(world):
    with schema_context(world.schema):
        template = coupon_template_create(
            name="live", kind="amount_off", amount_off_fen=300, total_stock=1, claimable=False
        )
        first = coupons_auto_issue(template=template, member_ids=[world.alice.pk, world.bob.pk], issue_key="live:9")
        second = coupons_auto_issue(template=template, member_ids=[world.alice.pk], issue_key="live:9")
        coupon = Coupon.objects.get(template=template)
        assert (first.issued, first.skipped, second.issued) == (1, 1, 0)
        assert round((coupon.valid_until - coupon.created_at).total_seconds()) == 72 * 3600


def test_claim_of_non_claimable_template_is_404_and_coupons_are_per_brand(world, world_b, member_client):
    with schema_context(world.schema):
        template = coupon_template_create(
            name="staff only", kind="amount_off", amount_off_fen=300, total_stock=5, claimable=False
        )
    assert member_client(world, world.alice).post(f"/api/v1/mp/coupon-templates/{template.pk}/claim").status_code == 404
    assert member_client(world_b, world_b.alice).get("/api/v1/mp/coupons").json()["results"] == []
