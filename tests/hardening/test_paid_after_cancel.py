"""Defect 4: a cancelled or expired order cannot be paid, and a payment that still arrives is refunded."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from miniprograms.models import Order, Refund, ShopSku
from miniprograms.services.orders import order_cancel
from miniprograms.services.payments import order_gateway_close, order_mark_paid_from_notification, orders_cancel_expired
from miniprograms.services.refunds import refund_approve, refund_automatic_send
from tests.miniprograms.conftest import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat)


def _prepaid(w, client_for):
    client = client_for(w.brand).as_member(w.tokens[w.alice.pk])
    order_id = client.post(
        "/api/v1/mp/orders", {"shop_id": w.shop.pk, "items": [{"sku_id": w.sku.pk, "quantity": 2}]}, format="json"
    ).json()["id"]
    assert client.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200
    with schema_context(w.schema):
        return Order.objects.get(pk=order_id)


def test_the_prepay_expires_with_the_order(world, client_for, fake_wechat):
    order = _prepaid(world, client_for)
    sent = fake_wechat.calls_to("/pay/unifiedorder")[0][3].decode()
    expected = order.expires_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")
    assert f"<time_expire>{expected}</time_expire>" in sent


def test_cancelling_closes_the_wechat_order(world, client_for, fake_wechat, django_capture_on_commit_callbacks):
    order = _prepaid(world, client_for)
    with schema_context(world.schema):
        with django_capture_on_commit_callbacks() as queued:
            order_cancel(order_id=order.pk, reason="changed my mind", member=world.alice)
        assert len(queued) == 1  # the close task, sent after commit
        assert order_gateway_close(order_id=order.pk) == "closed"
        assert order_gateway_close(order_id=order.pk) == "closed"  # again: closing a closed order is fine
    assert fake_wechat.state["pay_orders"][order.number]["trade_state"] == "CLOSED"
    with pytest.raises(AssertionError, match="closed"):
        fake_wechat.pay_notification(order.number)  # WeChat would not let the buyer pay


def test_an_expired_order_is_cancelled_and_closed(world, client_for, fake_wechat):
    order = _prepaid(world, client_for)
    with schema_context(world.schema):
        assert orders_cancel_expired(now=timezone.now() + timedelta(minutes=31)) == 1
        assert order_gateway_close(order_id=order.pk) == "closed"
    assert [c for c in fake_wechat.calls_to("/pay/closeorder") if order.number.encode() in c[3]]


def test_a_payment_after_cancellation_is_refunded_automatically_with_the_reason(world, client_for, fake_wechat):
    order = _prepaid(world, client_for)
    with schema_context(world.schema):
        order_cancel(order_id=order.pk, reason="changed my mind")
    # the buyer paid before the close reached WeChat
    data = fake_wechat.pay_notification(order.number)
    with schema_context(world.schema):
        outcomes = [order_mark_paid_from_notification(data=dict(data)) for _ in range(2)]
        assert outcomes == ["refunding", "duplicate"]
        order = Order.objects.get(pk=order.pk)
        assert order.status == "cancelled" and order.transaction_id == data["transaction_id"]
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10  # the stock stays released
        refund = Refund.objects.get(order=order)
        assert refund.kind == "paid_after_cancel" and refund.amount_fen == order.total_fen
        assert refund.status == "requested" and "after the order was cancelled" in refund.reason
        assert order.events.filter(status="paid_after_cancel").count() == 1
        # staff cannot decide it (that would put stock and coupon back twice)
        with pytest.raises(Exception) as info:
            refund_approve(refund=refund, actor_id=1)
        assert getattr(info.value, "code", "") == "refund_automatic"
        assert refund_automatic_send(refund_id=refund.pk) == "succeeded"
        assert refund_automatic_send(refund_id=refund.pk) == "skipped"
        refund.refresh_from_db()
        assert refund.status == "succeeded" and refund.wechat_refund_id.startswith("5030")
    [call] = fake_wechat.calls_to("/secapi/pay/refund")
    assert refund.number.encode() in call[3]
    assert fake_wechat.state["pay_orders"][order.number]["trade_state"] == "REFUND"


def test_a_close_that_finds_the_order_paid_refunds_it(world, client_for, fake_wechat):
    order = _prepaid(world, client_for)
    with schema_context(world.schema):
        order_cancel(order_id=order.pk, reason="changed my mind")
    fake_wechat.pay_notification(order.number)  # paid at WeChat; the notification is late
    with schema_context(world.schema):
        assert order_gateway_close(order_id=order.pk) == "paid"
        assert Refund.objects.get(order_id=order.pk).kind == "paid_after_cancel"
        assert Order.objects.get(pk=order.pk).status == "cancelled"


def test_wechat_down_leaves_the_close_for_a_retry(world, client_for, fake_wechat):
    from miniprograms.payments import PaymentUnavailable

    order = _prepaid(world, client_for)
    with schema_context(world.schema):
        order_cancel(order_id=order.pk, reason="x")
        fake_wechat.fail_next("/pay/closeorder", {}, status=500)
        with pytest.raises(PaymentUnavailable):
            order_gateway_close(order_id=order.pk)
        assert order_gateway_close(order_id=order.pk) == "closed"
