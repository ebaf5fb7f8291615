"""Money paths at the edges: a WeChat refund that fails and is approved again; refunds of goods already picked up,
of a commission already payable, of an order whose coupon expired since; the expiry job when WeChat's order query
fails."""

from datetime import timedelta

import pytest
import xmltodict
from django.utils import timezone
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, Coupon, Order, Refund, ShopSku
from miniprograms.services.coupons import coupon_template_create
from miniprograms.services.guides import (
    commission_rule_set,
    commissions_mark_payable,
    guide_share_code_create,
    guide_touch_record,
)
from miniprograms.services.payments import order_mark_paid_from_notification, orders_cancel_expired
from points.models import PointsEntry
from tests.fake_wechat.server import _xml

pytestmark = pytest.mark.django_db


def paid_order(w, client, fake, qty=2, **extra):
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": w.shop.pk, "items": [{"sku_id": w.sku.pk, "quantity": qty}], **extra},
        format="json",
    ).json()["id"]
    assert client.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200
    with schema_context(w.schema):
        data = fake.pay_notification(Order.objects.get(pk=order_id).number)
        assert order_mark_paid_from_notification(data=data) == "paid"
    return order_id


def ask_refund(w, client, order_id) -> int:
    response = client.post(f"/api/v1/mp/orders/{order_id}/refund", {"reason": "r"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["refund_id"]


def refunds_sent(fake) -> list[tuple[str, str, str]]:
    sent = [xmltodict.parse(call[3])["xml"] for call in fake.calls_to("/secapi/pay/refund")]
    return [(s["out_refund_no"], s["total_fee"], s["refund_fee"]) for s in sent]


def test_wechat_refund_failure_leaves_it_failed_and_the_retry_applies_it_once(
    world, member_client, hq_client, fake_wechat
):
    client = member_client(world, world.alice)
    order_id = paid_order(world, client, fake_wechat)
    refund_id = ask_refund(world, client, order_id)
    fake_wechat.fail_next("/secapi/pay/refund", _xml({"return_code": "FAIL", "return_msg": "system busy"}))

    # when WeChat Pay fails the first approval
    failed = hq_client(world).post(f"/api/v1/console/refunds/{refund_id}/approve")
    # then the member is told, and nothing moved: still refunding, stock, points and refund untouched
    assert failed.status_code == 502 and failed.json()["error"]["code"] == "payment_unavailable"
    with schema_context(world.schema):
        order = Order.objects.get(pk=order_id)
        refund = Refund.objects.get(pk=refund_id)
        assert (order.status, refund.status) == ("refunding", "failed")
        assert "system busy" in refund.last_error
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 8
        assert [e.amount for e in PointsEntry.objects.filter(reference=order.number)] == [20]

    # when HQ approves again
    retried = hq_client(world).post(f"/api/v1/console/refunds/{refund_id}/approve")
    # then WeChat got the same refund number twice (idempotent there) and the effects happened once
    assert retried.status_code == 200 and retried.json()["status"] == "succeeded"
    with schema_context(world.schema):
        refund = Refund.objects.get(pk=refund_id)
        assert refunds_sent(fake_wechat) == [(refund.number, "2000", "2000")] * 2
        assert refund.wechat_refund_id.startswith("5030")
        assert Order.objects.get(pk=order_id).status == "refunded"
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10
        assert sorted(e.amount for e in PointsEntry.objects.filter(reference=order.number)) == [-20, 20]
    assert hq_client(world).post(f"/api/v1/console/refunds/{refund_id}/approve").status_code == 409


def test_refund_of_goods_already_picked_up_does_not_restock(
    world, member_client, hq_client, manager_client, fake_wechat
):
    client = member_client(world, world.alice)
    order_id = paid_order(world, client, fake_wechat, qty=3)
    hq = hq_client(world)
    for step in ("ready_for_pickup", "picked_up"):
        assert (
            hq.post(f"/api/v1/console/orders/{order_id}/fulfilment", {"status": step}, format="json").status_code == 200
        )
    refund_id = ask_refund(world, client, order_id)

    assert hq.post(f"/api/v1/console/refunds/{refund_id}/approve").json()["status"] == "succeeded"

    with schema_context(world.schema):
        order = Order.objects.get(pk=order_id)
        assert (order.status, order.fulfilment_status) == ("refunded", "picked_up")
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 7  # the 3 left the store with the buyer
        assert refunds_sent(fake_wechat) == [(Refund.objects.get(pk=refund_id).number, "3000", "3000")]
        assert sorted(e.amount for e in PointsEntry.objects.filter(reference=order.number)) == [-30, 30]


def test_refund_after_the_commission_became_payable_reverses_it(world, member_client, hq_client, fake_wechat):
    with schema_context(world.schema):
        commission_rule_set(product=world.product, rate_bp=1000)
        guide_touch_record(
            member=world.alice, scene=guide_share_code_create(guide=world.guide, shop=world.shop)["scene"]
        )
    client = member_client(world, world.alice)
    order_id = paid_order(world, client, fake_wechat)
    with schema_context(world.schema):
        # the return window passes: the commission is payable
        assert commissions_mark_payable(now=timezone.now() + timedelta(days=8)) == 1
        entry = CommissionEntry.objects.get(order_id=order_id)
        assert (entry.status, entry.amount_fen) == ("payable", 200)
    refund_id = ask_refund(world, client, order_id)

    assert hq_client(world).post(f"/api/v1/console/refunds/{refund_id}/approve").json()["status"] == "succeeded"

    with schema_context(world.schema):
        entry.refresh_from_db()
        assert (entry.status, entry.amount_fen) == ("reversed", 200)
        assert commissions_mark_payable(now=timezone.now() + timedelta(days=30)) == 0


def test_refund_gives_back_a_coupon_that_expired_since_but_it_stays_unusable(
    world, member_client, hq_client, fake_wechat
):
    with schema_context(world.schema):
        template = coupon_template_create(name="3 off", kind="amount_off", amount_off_fen=300, total_stock=5)
    client = member_client(world, world.alice)
    coupon_id = client.post(f"/api/v1/mp/coupon-templates/{template.pk}/claim").json()["id"]
    order_id = paid_order(world, client, fake_wechat, coupon_id=coupon_id)
    expired_at = timezone.now() - timedelta(minutes=1)
    with schema_context(world.schema):
        assert Order.objects.get(pk=order_id).total_fen == 1700
        Coupon.objects.filter(pk=coupon_id).update(valid_until=expired_at)  # its 72 hours are over
    refund_id = ask_refund(world, client, order_id)

    assert hq_client(world).post(f"/api/v1/console/refunds/{refund_id}/approve").json()["status"] == "succeeded"

    with schema_context(world.schema):
        assert refunds_sent(fake_wechat) == [(Refund.objects.get(pk=refund_id).number, "1700", "1700")]
        coupon = Coupon.objects.get(pk=coupon_id)
        assert coupon.valid_until == expired_at  # the refund does not extend it
    again = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "coupon_id": coupon_id, "items": [{"sku_id": world.sku.pk, "quantity": 2}]},
        format="json",
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "coupon_unusable"


def test_expiry_job_leaves_the_order_when_wechat_cannot_say_whether_it_was_paid(world, member_client, fake_wechat):
    client = member_client(world, world.alice)
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 4}]},
        format="json",
    ).json()["id"]
    assert client.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200  # a prepay exists at WeChat
    later = timezone.now() + timedelta(minutes=31)
    fake_wechat.fail_next("/pay/orderquery", _xml({"return_code": "FAIL", "return_msg": "system busy"}))

    with schema_context(world.schema):
        # WeChat fails the query: not cancelled (it may have been paid), stock still held
        assert orders_cancel_expired(now=later) == 0
        assert Order.objects.get(pk=order_id).status == "pending_payment"
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 6
        # the next run gets an answer (not paid): cancelled, stock back
        assert orders_cancel_expired(now=later) == 1
        assert Order.objects.get(pk=order_id).status == "cancelled"
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10
    assert len(fake_wechat.calls_to("/pay/orderquery")) == 2
