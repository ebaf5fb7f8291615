"""The payment path end to end, through the seams: WeChat Pay posts its notification over HTTP -> the callback
inbox stores it -> the handler the shops app registered runs (callbacks.services.callback_process, as the worker
calls it) -> the order is paid, points are earned and the guide's commission is credited, once."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from callbacks import registry
from callbacks.models import CallbackEvent
from callbacks.services import callback_process
from miniprograms.callback_handlers import pay_notified
from miniprograms.models import CommissionEntry, Order
from miniprograms.services.guides import commission_rule_set, guide_share_code_create, guide_touch_record
from points.models import PointsEntry
from tests.fake_wechat.server import _xml

pytestmark = pytest.mark.django_db
SUCCESS = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


def _order_paid_at_wechat(w, client, fake, qty=2):
    order_id = client.post(
        "/api/v1/mp/orders", {"shop_id": w.shop.pk, "items": [{"sku_id": w.sku.pk, "quantity": qty}]}, format="json"
    ).json()["id"]
    assert client.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200
    with schema_context(w.schema):
        number = Order.objects.get(pk=order_id).number
    return order_id, number, _xml(fake.pay_notification(number))


def test_the_pay_notify_kind_is_handled_by_the_shops_handler():
    assert registry.handler_for("pay.notify") is pay_notified


def test_http_notification_pays_the_order_earns_points_and_credits_commission_once(
    world, member_client, fake_wechat, client_for
):
    with schema_context(world.schema):
        commission_rule_set(product=world.product, rate_bp=1000)
        scene = guide_share_code_create(guide=world.guide, shop=world.shop)["scene"]
        guide_touch_record(member=world.alice, scene=scene)
    order_id, number, body = _order_paid_at_wechat(world, member_client(world, world.alice), fake_wechat)

    # when WeChat Pay posts the notification, twice (its retry), to the brand's host
    for _ in range(2):
        response = client_for(world.brand).post(
            f"/wechat/pay/notify/{world.app.appid}/", data=body, content_type="text/xml"
        )
        assert (response.status_code, response.content) == (200, SUCCESS)
    connection.set_schema_to_public()
    event = CallbackEvent.objects.get(appid=world.app.appid, kind="pay.notify")
    assert (event.status, event.payload["out_trade_no"]) == ("received", number)

    # and the worker processes the inbox row (then a redelivered message)
    assert callback_process(event_id=event.id).status == "done"
    assert callback_process(event_id=event.id).status == "skipped"

    # then the order is paid, 20 points earned (1 a yuan), 10% of 2,000 fen credited to the guide, once each
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("done", 1)
    with schema_context(world.schema):
        order = Order.objects.get(pk=order_id)
        assert (order.status, order.fulfilment_status, order.total_fen) == ("paid", "preparing", 2000)
        assert order.transaction_id == event.payload["transaction_id"]
        assert [(e.kind, e.amount) for e in PointsEntry.objects.filter(reference=number)] == [("earn", 20)]
        assert [(c.guide_id, c.amount_fen, c.status) for c in CommissionEntry.objects.filter(order=order)] == [
            (world.guide.pk, 200, "pending")
        ]


def test_http_notification_with_another_amount_is_dead_and_changes_nothing(
    world, member_client, fake_wechat, client_for
):
    order_id, number, _ = _order_paid_at_wechat(world, member_client(world, world.alice), fake_wechat)
    body = _xml(fake_wechat.pay_notification(number, total_fee=1))  # correctly signed, 1 fen

    response = client_for(world.brand).post(
        f"/wechat/pay/notify/{world.app.appid}/", data=body, content_type="text/xml"
    )
    assert response.content == SUCCESS
    connection.set_schema_to_public()
    event = CallbackEvent.objects.get(appid=world.app.appid, kind="pay.notify")

    assert callback_process(event_id=event.id).status == "dead"
    with schema_context(world.schema):
        assert Order.objects.get(pk=order_id).status == "pending_payment"
        assert not PointsEntry.objects.filter(reference=number).exists()
