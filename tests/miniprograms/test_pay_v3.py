"""WeChat Pay APIv3, service-provider mode: prepay, notifications, close, refunds, routing to sub-merchants, and
moving a brand from v2 to v3 with orders in flight. Against the fake WeChat Pay, signed with the suite's keys."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from django_tenants.utils import schema_context

from callbacks.models import CallbackEvent
from callbacks.services import callback_process
from miniprograms.models import Order, Refund
from miniprograms.payments import OrderPaidAtGateway, PaymentUnavailable, gateway_for_order
from tests.miniprograms.pay_v3_helpers import notify, switch_to_v3
from tests.miniprograms.test_orders_payments import place

pytestmark = pytest.mark.django_db


def pay(client, order_id):
    return client.post(f"/api/v1/mp/orders/{order_id}/pay")


def order_of(w, order_id) -> Order:
    with schema_context(w.schema):
        return Order.objects.get(pk=order_id)


def process_all(appid: str) -> list[str]:
    outcomes = []
    for event in CallbackEvent.objects.filter(appid=appid, status="received").order_by("id"):
        outcomes.append(callback_process(event_id=event.id).status)
    return outcomes


def test_v3_order_from_prepay_to_paid_to_partial_refund(
    world, member_client, fake_wechat, wechatpay_v3, wechatpay_v3_keys
):
    subs = switch_to_v3(world, fake_wechat)
    client = member_client(world, world.alice)
    order_id = place(client, world).json()["id"]

    # prepay: the fake checked our request signature; the parameters are signed with the merchant key
    response = pay(client, order_id)
    params = response.json()["request_payment"]
    order = order_of(world, order_id)
    assert response.status_code == 200 and params["signType"] == "RSA"
    assert (order.pay_gateway, order.pay_mchid) == ("wxpay_v3", subs["brand"])
    message = f"{world.app.appid}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    wechatpay_v3_keys.merchant_key.public_key().verify(
        base64.b64decode(params["paySign"]), message.encode(), PKCS1v15(), SHA256()
    )
    sent = json.loads(fake_wechat.calls_to("/v3/pay/partner/transactions/jsapi")[0][3])
    assert sent["sub_mchid"] == subs["brand"] and sent["sub_appid"] == world.app.appid
    assert sent["payer"] == {"sub_openid": world.alice.openid} and sent["amount"] == {"total": 2000, "currency": "CNY"}
    assert sent["time_expire"].endswith("+08:00") and sent["notify_url"].endswith(f"/v3/notify/{world.app.appid}/")
    assert params["package"] == f"prepay_id={fake_wechat.pay_v3_orders[(subs['brand'], order.number)]['prepay_id']}"

    # paid: WeChat's notification is verified, stored once, processed once
    headers, body = fake_wechat.pay_v3_notification(order.number)
    assert notify(world.app.appid, headers, body).status_code == 204
    assert process_all(world.app.appid) == ["done"]
    order = order_of(world, order_id)
    assert order.status == "paid" and order.transaction_id.startswith("4200")
    with schema_context(world.schema):
        assert gateway_for_order(order).query(out_trade_no=order.number).paid is True

        # partial refund: 3 yuan of 20, then the rest; never more than what is left
        gateway = gateway_for_order(order)
        first = gateway.refund(
            out_trade_no=order.number,
            out_refund_no="R1" + order.number,
            total_fen=2000,
            refund_fen=300,
            reason="one item",
        )
        second = gateway.refund(
            out_trade_no=order.number, out_refund_no="R2" + order.number, total_fen=2000, refund_fen=1700
        )
        with pytest.raises(PaymentUnavailable) as too_much:
            gateway.refund(out_trade_no=order.number, out_refund_no="R3" + order.number, total_fen=2000, refund_fen=1)
        Refund.objects.create(order=order, number="R1" + order.number, amount_fen=300, status="succeeded")
    assert first.status == "PROCESSING" and first.refund_id.startswith("5030") and second.refund_id != first.refund_id
    assert too_much.value.fields == {"wechat": ["NOT_ENOUGH"]}
    refunds = fake_wechat.pay_v3_orders[(subs["brand"], order.number)]["refunds"]
    assert {k: v["refund"] for k, v in refunds.items()} == {"R1" + order.number: 300, "R2" + order.number: 1700}
    assert json.loads(fake_wechat.calls_to("/v3/refund/domestic/refunds")[0][3])["amount"] == {
        "refund": 300,
        "total": 2000,
        "currency": "CNY",
    }

    # the refund's notification confirms it once
    headers, body = fake_wechat.pay_v3_refund_notification("R1" + order.number)
    assert notify(world.app.appid, headers, body).status_code == 204
    assert notify(world.app.appid, headers, body).status_code == 204  # redelivered: stored once
    assert process_all(world.app.appid) == ["done"]
    with schema_context(world.schema):
        refund = Refund.objects.get(number="R1" + order.number)
        assert refund.wechat_refund_id == refunds["R1" + order.number]["refund_id"]
        assert order.events.filter(status="refund_confirmed").count() == 1


def test_whole_refund_of_a_v3_order_goes_through_the_same_refund_flow(
    world, member_client, hq_client, fake_wechat, wechatpay_v3
):
    subs = switch_to_v3(world, fake_wechat)
    client = member_client(world, world.alice)
    order_id = place(client, world).json()["id"]
    pay(client, order_id)
    notify(world.app.appid, *fake_wechat.pay_v3_notification(order_of(world, order_id).number))
    process_all(world.app.appid)

    refund = client.post(f"/api/v1/mp/orders/{order_id}/refund", {"reason": "r"}, format="json").json()
    approved = hq_client(world).post(f"/api/v1/console/refunds/{refund['refund_id']}/approve")

    assert approved.status_code == 200 and approved.json()["status"] == "succeeded"
    assert order_of(world, order_id).status == "refunded"
    number = order_of(world, order_id).number
    assert [r["refund"] for r in fake_wechat.pay_v3_orders[(subs["brand"], number)]["refunds"].values()] == [2000]


def test_two_franchisees_sub_merchants_receive_their_own_orders(world, member_client, fake_wechat, wechatpay_v3):
    subs = switch_to_v3(world, fake_wechat)
    with schema_context(world.schema):
        from miniprograms.models import ShopSku

        ShopSku.objects.create(shop=world.shop2, sku=world.sku, stock=10)
    client = member_client(world, world.alice)
    ids = {
        name: place(client, world, shop=shop).json()["id"]
        for name, shop in (("f1", world.shop1), ("f2", world.shop2), ("brand", world.shop))
    }
    for order_id in ids.values():
        assert pay(client, order_id).status_code == 200

    orders = {name: order_of(world, order_id) for name, order_id in ids.items()}
    assert {name: o.pay_mchid for name, o in orders.items()} == subs
    at_fake = {(o["sub_mchid"], o["out_trade_no"]) for o in fake_wechat.pay_v3_orders.values()}
    assert at_fake == {(subs[name], o.number) for name, o in orders.items()}

    # a notification naming f2's sub-merchant for f1's order is refused by the handler; the right one pays it
    f1_number = orders["f1"].number
    fake_wechat.pay_v3_orders[(subs["f2"], f1_number)] = dict(
        fake_wechat.pay_v3_orders[(subs["f1"], f1_number)], sub_mchid=subs["f2"]
    )
    notify(world.app.appid, *fake_wechat.pay_v3_notification(f1_number, sub_mchid=subs["f2"]))
    assert process_all(world.app.appid) == ["dead"]
    assert order_of(world, ids["f1"]).status == "pending_payment"
    notify(world.app.appid, *fake_wechat.pay_v3_notification(f1_number, sub_mchid=subs["f1"]))
    assert process_all(world.app.appid) == ["done"]
    assert order_of(world, ids["f1"]).status == "paid"


def test_moving_a_brand_from_v2_to_v3_keeps_orders_in_flight_on_v2(world, member_client, fake_wechat, wechatpay_v3):
    client = member_client(world, world.alice)
    v2_order = place(client, world).json()["id"]
    pay(client, v2_order)  # prepaid on v2, not paid yet

    subs = switch_to_v3(world, fake_wechat)
    v3_order = place(client, world).json()["id"]
    pay(client, v3_order)
    pay(client, v2_order)  # paying again stays with the gateway that created the payment

    assert (order_of(world, v2_order).pay_gateway, order_of(world, v2_order).pay_mchid) == (
        "wxpay_v2",
        world.app.mch_id,
    )
    assert order_of(world, v3_order).pay_gateway == "wxpay_v3" and order_of(world, v3_order).pay_mchid == subs["brand"]
    assert len(fake_wechat.calls_to("/pay/unifiedorder")) == 2
    assert len(fake_wechat.calls_to("/v3/pay/partner/transactions/jsapi")) == 1
    # the v2 notification of the order in flight still pays it
    from miniprograms.services.payments import order_mark_paid_from_notification

    with schema_context(world.schema):
        data = fake_wechat.pay_notification(order_of(world, v2_order).number)
        assert order_mark_paid_from_notification(data=data) == "paid"


def test_close_an_unpaid_v3_order_and_a_paid_one_is_refused(world, member_client, fake_wechat, wechatpay_v3):
    subs = switch_to_v3(world, fake_wechat)
    client = member_client(world, world.alice)
    unpaid, paid = place(client, world).json()["id"], place(client, world).json()["id"]
    pay(client, unpaid)
    pay(client, paid)
    fake_wechat.pay_v3_notification(order_of(world, paid).number)  # paid at WeChat

    with schema_context(world.schema):
        gateway = gateway_for_order(order_of(world, unpaid))
        gateway.close(out_trade_no=order_of(world, unpaid).number)
        gateway.close(out_trade_no="never-created-there")  # closing what does not exist succeeds, like v2
        with pytest.raises(OrderPaidAtGateway):
            gateway_for_order(order_of(world, paid)).close(out_trade_no=order_of(world, paid).number)
    assert fake_wechat.pay_v3_orders[(subs["brand"], order_of(world, unpaid).number)]["trade_state"] == "CLOSED"
    assert fake_wechat.pay_v3_orders[(subs["brand"], order_of(world, paid).number)]["trade_state"] == "SUCCESS"
    assert pay(client, unpaid).json()["error"]["code"] == "payment_unavailable"  # closed at WeChat


def test_badly_signed_requests_are_refused_like_wechat(
    world, member_client, fake_wechat, wechatpay_v3, wechatpay_v3_keys
):
    switch_to_v3(world, fake_wechat)
    # the platform's key was replaced in the registry, but WeChat knows the old one
    from tenants.models import WeChatPayProvider
    from tenants.wechatpay import provider_client_cache_clear
    from tests.wechatpay_v3 import _private_pem

    provider = WeChatPayProvider.objects.get(pk=wechatpay_v3.pk)
    provider.merchant_private_key = _private_pem(wechatpay_v3_keys.stranger_key)
    provider.save(update_fields=["merchant_private_key"])
    provider_client_cache_clear()
    client = member_client(world, world.alice)
    order_id = place(client, world).json()["id"]

    response = pay(client, order_id)

    assert response.status_code == 502 and response.json()["error"]["fields"] == {"wechat": ["SIGN_ERROR"]}
    assert fake_wechat.pay_v3_orders == {}


def test_answers_not_signed_by_wechat_pay_are_refused(
    world, member_client, fake_wechat, wechatpay_v3, wechatpay_v3_keys
):
    switch_to_v3(world, fake_wechat)
    real = fake_wechat.pay_v3_platform["key"]
    fake_wechat.pay_v3_platform["key"] = wechatpay_v3_keys.stranger_key  # a man in the middle answers
    try:
        client = member_client(world, world.alice)
        response = pay(client, place(client, world).json()["id"])
    finally:
        fake_wechat.pay_v3_platform["key"] = real
    assert response.status_code == 502 and response.json()["error"]["code"] == "payment_unavailable"


def test_v3_without_a_service_provider_is_not_configured(world, member_client, fake_wechat):
    from tenants.models import WeChatPayProvider

    WeChatPayProvider.objects.all().delete()
    world.app.pay_api, world.app.sub_mchid = "wxpay_v3", "1900000001"
    world.app.save(update_fields=["pay_api", "sub_mchid"])
    client = member_client(world, world.alice)
    response = pay(client, place(client, world).json()["id"])
    assert response.status_code == 409 and response.json()["error"]["code"] == "payment_not_configured"


def test_expired_v3_order_paid_at_wechat_is_marked_paid_by_query(world, member_client, fake_wechat, wechatpay_v3):
    from datetime import timedelta

    from django.utils import timezone

    from miniprograms.services.payments import orders_cancel_expired

    switch_to_v3(world, fake_wechat)
    client = member_client(world, world.alice)
    paid_id, unpaid_id = place(client, world).json()["id"], place(client, world).json()["id"]
    pay(client, paid_id)
    pay(client, unpaid_id)
    fake_wechat.pay_v3_notification(order_of(world, paid_id).number)  # paid at WeChat, notification lost

    with schema_context(world.schema):
        assert orders_cancel_expired(now=timezone.now() + timedelta(minutes=31)) == 1
    assert order_of(world, paid_id).status == "paid" and order_of(world, unpaid_id).status == "cancelled"
    assert order_of(world, paid_id).transaction_id.startswith("4200")


def test_refund_notification_of_another_sub_merchant_or_amount_changes_nothing(
    world, member_client, fake_wechat, wechatpay_v3
):
    subs = switch_to_v3(world, fake_wechat)
    client = member_client(world, world.alice)
    order_id = place(client, world).json()["id"]
    pay(client, order_id)
    order = order_of(world, order_id)
    notify(world.app.appid, *fake_wechat.pay_v3_notification(order.number))
    process_all(world.app.appid)
    with schema_context(world.schema):
        gateway_for_order(order).refund(
            out_trade_no=order.number, out_refund_no="RX" + order.number, total_fen=2000, refund_fen=500
        )
        Refund.objects.create(order=order, number="RX" + order.number, amount_fen=400, status="succeeded")
    # WeChat reports 500 refunded where ekr asked for 400 (ekr's row): refused
    notify(world.app.appid, *fake_wechat.pay_v3_refund_notification("RX" + order.number))
    assert process_all(world.app.appid) == ["dead"]
    # a refund resource naming another sub-merchant: refused as well
    fake_wechat.pay_v3_orders[(subs["brand"], order.number)]["sub_mchid"] = subs["f1"]
    notify(world.app.appid, *fake_wechat.pay_v3_refund_notification("RX" + order.number, status="ABNORMAL"))
    assert process_all(world.app.appid) == ["dead"]
    with schema_context(world.schema):
        assert Refund.objects.get(number="RX" + order.number).wechat_refund_id == ""
        assert not order.events.filter(status__startswith="refund_").exists()
