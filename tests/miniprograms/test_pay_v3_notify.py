"""WeChat Pay APIv3 notifications at /wechat/pay/v3/notify/<appid>/: signature over timestamp, nonce and body with
the key its serial names, no probes, no stale timestamps, AES-256-GCM with the APIv3 key; stored once in the inbox
and processed once. Anything refused changes nothing (a `rejected` row is kept as evidence)."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from callbacks import services as callback_services
from callbacks.models import CallbackEvent
from callbacks.services import callback_process
from miniprograms.models import Order
from points.models import PointsEntry
from tests.miniprograms.conftest import build_world
from tests.miniprograms.pay_v3_helpers import notify, switch_to_v3
from tests.wechatpay_v3 import SP_MCHID, certificate_for, generate_keys, provider_install


def _prepaid_order(w, fake) -> Order:
    from miniprograms.services.orders import order_place
    from miniprograms.services.payments import order_prepay

    with schema_context(w.schema):
        order = order_place(member=w.alice, shop=w.shop, items=[{"sku_id": w.sku.pk, "quantity": 2}], appid=w.app.appid)
        order_prepay(member=w.alice, order=order, openid=w.alice.openid)
        return Order.objects.get(pk=order.pk)


@pytest.fixture
def v3_order(world, fake_wechat, wechatpay_v3):
    switch_to_v3(world, fake_wechat)
    return world, _prepaid_order(world, fake_wechat)


def accepted(appid: str) -> list[CallbackEvent]:
    return list(CallbackEvent.objects.filter(appid=appid).exclude(status="rejected"))


def rejected_codes(appid: str) -> list[str]:
    return [e.last_error.split(":")[0] for e in CallbackEvent.objects.filter(appid=appid, status="rejected")]


def status_of(w, order) -> str:
    with schema_context(w.schema):
        return Order.objects.get(pk=order.pk).status


@pytest.mark.django_db
def test_a_signed_notification_is_stored_once_answered_204_and_pays_once(v3_order, fake_wechat):
    w, order = v3_order
    headers, body = fake_wechat.pay_v3_notification(order.number)

    answers = [notify(w.app.appid, headers, body), notify(w.app.appid, headers, body, brand=w.brand)]

    assert [a.status_code for a in answers] == [204, 204] and answers[0].content == b""
    [event] = accepted(w.app.appid)
    assert (event.kind, event.source, event.status) == ("pay.v3.transaction", "pay", "received")
    assert (
        event.payload["resource"]["out_trade_no"] == order.number
        and event.payload["event_type"] == "TRANSACTION.SUCCESS"
    )
    assert event.dedup_key == f"pay3:{order.number}:{event.payload['resource']['transaction_id']}"
    assert callback_process(event_id=event.id).status == "done"
    assert status_of(w, order) == "paid"


def _forge(fake, keys, number, case):
    if case == "edited_body":
        headers, body = fake.pay_v3_notification(number)
        return headers, body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    if case == "stranger_key":
        return fake.pay_v3_notification(number, sign_key=keys.stranger_key)
    if case == "unknown_serial":
        return fake.pay_v3_notification(number, serial="PUB_KEY_ID_SOMEONE_ELSE")
    if case == "wrong_apiv3_key":
        return fake.pay_v3_notification(number, apiv3_key="z" * 32)
    if case == "stale":
        return fake.pay_v3_notification(number, timestamp=int(time.time()) - 360)
    if case == "future":
        return fake.pay_v3_notification(number, timestamp=int(time.time()) + 360)
    if case == "signtest_probe":
        return fake.pay_v3_notification(number, signature="WECHATPAY/SIGNTEST/" + "A" * 40)
    if case == "other_provider":  # signed and encrypted properly, but for another service provider's account
        order = next(o for o in fake.pay_v3_orders.values() if o["out_trade_no"] == number)
        fake.state["v3_providers"]["1230000999"] = fake.state["v3_providers"][SP_MCHID]
        order["sp_mchid"] = "1230000999"
        try:
            return fake.pay_v3_notification(number)
        finally:
            order["sp_mchid"] = SP_MCHID
    if case == "no_signature":
        headers, body = fake.pay_v3_notification(number)
        return {k: v for k, v in headers.items() if k != "Wechatpay-Signature"}, body
    raise AssertionError(case)


CASES = {
    "edited_body": "bad_signature",
    "stranger_key": "bad_signature",
    "unknown_serial": "unknown_serial",
    "wrong_apiv3_key": "decrypt_failed",
    "stale": "stale_timestamp",
    "future": "stale_timestamp",
    "signtest_probe": "signtest_probe",
    "no_signature": "missing_signature",
    "other_provider": "merchant_mismatch",
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", sorted(CASES))
def test_forged_stale_and_wrongly_keyed_notifications_change_nothing(case, v3_order, fake_wechat, wechatpay_v3_keys):
    w, order = v3_order
    headers, body = _forge(fake_wechat, wechatpay_v3_keys, order.number, case)

    response = notify(w.app.appid, headers, body)

    assert response.status_code == (403 if case == "other_provider" else 401)
    assert response.json() == {"code": "FAIL", "message": CASES[case]}
    assert accepted(w.app.appid) == [] and rejected_codes(w.app.appid) == [CASES[case]]
    assert status_of(w, order) == "pending_payment"


@pytest.mark.django_db
def test_a_replayed_notification_is_refused_once_its_timestamp_is_old(v3_order, fake_wechat):
    w, order = v3_order
    # captured 10 minutes ago (signed then); replayed now, verbatim
    headers, body = fake_wechat.pay_v3_notification(order.number, timestamp=int(time.time()) - 600)

    response = notify(w.app.appid, headers, body)

    assert response.status_code == 401 and rejected_codes(w.app.appid) == ["stale_timestamp"]
    assert accepted(w.app.appid) == [] and status_of(w, order) == "pending_payment"


@pytest.mark.django_db
def test_another_mini_programs_notification_is_refused(v3_order, world_b, fake_wechat):
    w, order = v3_order
    headers, body = fake_wechat.pay_v3_notification(order.number)

    response = notify(world_b.app.appid, headers, body)  # posted to brand B's URL: sub_appid is brand A's

    assert response.status_code == 403 and rejected_codes(world_b.app.appid) == ["merchant_mismatch"]
    assert accepted(world_b.app.appid) == [] and status_of(w, order) == "pending_payment"


@pytest.mark.django_db
def test_amount_other_than_the_orders_is_dead_and_changes_nothing(v3_order, fake_wechat):
    w, order = v3_order
    notify(w.app.appid, *fake_wechat.pay_v3_notification(order.number, total=1))

    [event] = accepted(w.app.appid)
    assert callback_process(event_id=event.id).status == "dead"
    assert status_of(w, order) == "pending_payment"


@pytest.mark.django_db
def test_platform_certificates_are_downloaded_rotated_and_used(world, fake_wechat, wechatpay_v3_keys):
    from tenants.models import WeChatPayPlatformCertificate
    from tenants.wechatpay import platform_certificates_refresh

    keys = wechatpay_v3_keys
    provider = provider_install(keys, fake_wechat, public_key=False)
    switch_to_v3(world, fake_wechat)
    old_serial = keys.certificate_row[0]
    saved = dict(fake_wechat.pay_v3_platform)
    try:
        fake_wechat.pay_v3_keys(keys.platform_key, old_serial, certificates=[keys.certificate_row])
        assert platform_certificates_refresh() == 1
        order = _prepaid_order(world, fake_wechat)  # answers verified with the downloaded certificate

        # WeChat Pay rotates: a new key and certificate, the old one still valid for a while
        new_key = generate_keys().platform_key
        new_row = certificate_for(new_key)
        fake_wechat.pay_v3_keys(new_key, new_row[0], certificates=[keys.certificate_row, new_row])
        assert platform_certificates_refresh() == 1 and platform_certificates_refresh() == 0
        assert set(
            WeChatPayPlatformCertificate.objects.filter(provider=provider).values_list("serial_no", flat=True)
        ) == {old_serial, new_row[0]}

        assert notify(world.app.appid, *fake_wechat.pay_v3_notification(order.number)).status_code == 204
        old = fake_wechat.pay_v3_notification(order.number, sign_key=keys.platform_key, serial=old_serial)
        assert notify(world.app.appid, *old).status_code == 204  # still valid: same event, stored once
        assert len(accepted(world.app.appid)) == 1

        # an answer to /v3/certificates signed by someone else is refused and stores nothing
        fake_wechat.pay_v3_keys(keys.stranger_key, new_row[0], certificates=[certificate_for(keys.stranger_key)])
        with pytest.raises(RuntimeError):
            platform_certificates_refresh()
        assert WeChatPayPlatformCertificate.objects.filter(provider=provider).count() == 2
    finally:
        fake_wechat.pay_v3_platform = saved


def test_the_same_notification_delivered_20_times_at_once_takes_effect_once(
    new_brand, fake_wechat, wechatpay_v3_keys, monkeypatch
):
    # given: a committed brand with a prepaid v3 order; stored events are not handed to the broker, so that a
    # Celery worker another test left running does not take the event before the 20 workers below race for it
    monkeypatch.setattr(callback_services._handoff, "submit", lambda item: None)
    provider_install(wechatpay_v3_keys, fake_wechat)
    w = build_world(new_brand("pv3"), fake_wechat)
    switch_to_v3(w, fake_wechat)
    order = _prepaid_order(w, fake_wechat)
    connection.set_schema_to_public()
    headers, body = fake_wechat.pay_v3_notification(order.number)
    barrier = threading.Barrier(20)
    answers, outcomes = [], []

    def deliver():
        try:
            barrier.wait()
            answers.append(notify(w.app.appid, headers, body).status_code)
        finally:
            connection.close()

    def process(event_id):
        try:
            barrier.wait()
            outcomes.append(callback_process(event_id=event_id).status)
        finally:
            connection.close()

    # when: 20 deliveries at once, then 20 workers on what was stored
    for target, args in ((deliver, ()), (process, None)):
        if args is None:
            args = (accepted(w.app.appid)[0].id,)
        threads = [threading.Thread(target=target, args=args) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # then
    assert answers == [204] * 20 and len(accepted(w.app.appid)) == 1
    assert sorted(outcomes) == ["done"] + ["skipped"] * 19
    with schema_context(w.schema):
        paid = Order.objects.get(pk=order.pk)
        assert paid.status == "paid" and paid.events.filter(status="paid").count() == 1
        assert PointsEntry.objects.filter(reference=order.number).count() == 1
    connection.set_schema_to_public()


def test_the_order_lock_alone_makes_20_concurrent_v3_notifications_pay_once(
    new_brand, fake_wechat, wechatpay_v3_keys, monkeypatch
):
    """Beneath the inbox: the handler's service itself, 20 times at once on the same resource (the stored event
    is not handed to the broker: a worker left running by another test would pay the order first)."""
    monkeypatch.setattr(callback_services._handoff, "submit", lambda item: None)
    from miniprograms.services.payments import order_mark_paid_from_v3_notification

    provider_install(wechatpay_v3_keys, fake_wechat)
    w = build_world(new_brand("pv3"), fake_wechat)
    switch_to_v3(w, fake_wechat)
    order = _prepaid_order(w, fake_wechat)
    connection.set_schema_to_public()
    notify(w.app.appid, *fake_wechat.pay_v3_notification(order.number))
    resource = accepted(w.app.appid)[0].payload["resource"]
    barrier = threading.Barrier(20)
    outcomes = []

    def handle():
        try:
            with schema_context(w.schema):
                barrier.wait()
                outcomes.append(order_mark_paid_from_v3_notification(appid=w.app.appid, resource=resource))
        finally:
            connection.close()

    threads = [threading.Thread(target=handle) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["duplicate"] * 19 + ["paid"]
    with schema_context(w.schema):
        assert PointsEntry.objects.filter(reference=order.number).count() == 1
    connection.set_schema_to_public()
