"""Refunds on committed data: two refunds racing for the last fen (threads with their own connections), the
database check behind it, and WeChat's refund API called after commit with no row of the order locked."""

import pytest
from django.db import IntegrityError, connection, transaction
from django_tenants.utils import schema_context

from miniprograms.models import Order, Refund
from miniprograms.services.orders import order_place
from miniprograms.services.payments import order_mark_paid_from_notification, order_prepay
from miniprograms.services.refunds import refund_approve, refund_request
from tests.miniprograms.conftest import build_world
from tests.miniprograms.test_concurrency import race


@pytest.fixture
def paid(new_brand, fake_wechat):
    """A committed brand world and Alice's paid order of 2 x 1000."""
    brand = new_brand("refund")
    world = build_world(brand, fake_wechat)
    with schema_context(world.schema):
        order = order_place(
            member=world.alice, shop=world.shop, appid=world.app.appid, items=[{"sku_id": world.sku.pk, "quantity": 2}]
        )
        order_prepay(member=world.alice, order=order, openid=world.alice.openid)
        assert order_mark_paid_from_notification(data=fake_wechat.pay_notification(order.number)) == "paid"
    world.order = order
    return world


def test_two_refunds_racing_for_the_last_fen_only_one_wins(paid):
    w = paid
    with schema_context(w.schema):
        refund_request(member=w.alice, order_id=w.order.pk, amount_fen=1999)

    results = race(
        w.schema, lambda _: refund_request(member=w.alice, order_id=w.order.pk, amount_fen=1) and "ok", [0, 1]
    )

    with schema_context(w.schema):
        assert sorted(results) == ["ok", "refund_exceeds_paid"]
        assert Order.objects.get(pk=w.order.pk).refunded_fen == 2000
        assert sorted(Refund.objects.filter(order_id=w.order.pk).values_list("amount_fen", flat=True)) == [1, 1999]


def test_the_database_refuses_refunds_above_what_was_paid(paid):
    with schema_context(paid.schema):
        with pytest.raises(IntegrityError), transaction.atomic():
            Order.objects.filter(pk=paid.order.pk).update(refunded_fen=2001)


def test_wechat_is_called_after_commit_without_the_order_locked(paid, fake_wechat):
    w = paid
    with schema_context(w.schema):
        refund = refund_request(member=w.alice, order_id=w.order.pk, amount_fen=500)
    seen = []

    def look():  # in the fake's thread, on its own connection, while the refund call is in flight
        try:
            with schema_context(w.schema), transaction.atomic():
                order = Order.objects.select_for_update(nowait=True).get(pk=w.order.pk)
                locked = Refund.objects.select_for_update(nowait=True).get(pk=refund.pk)
                seen.append((locked.status, order.refunded_fen))
        except Exception as exc:  # recorded for the assertion below
            seen.append(repr(exc))
        finally:
            connection.close()

    fake_wechat.on_call["/secapi/pay/refund"] = look
    with schema_context(w.schema):
        done = refund_approve(refund=refund, actor_id=1)

    assert seen == [("approved", 500)]  # the approval was committed; nothing held the rows
    assert done.status == "succeeded"
    with schema_context(w.schema):
        assert Refund.objects.get(pk=refund.pk).status == "succeeded"


def test_a_refund_left_approved_by_a_crash_is_sent_by_the_sweep_once(paid, fake_wechat):
    from datetime import timedelta

    from django.utils import timezone

    from miniprograms.services.refunds import _approve, refunds_send_stuck

    w = paid
    with schema_context(w.schema):
        refund = refund_request(member=w.alice, order_id=w.order.pk, amount_fen=700)
        _approve(refund=refund, actor_id=1)  # committed; the process dies before WeChat is called
        later = timezone.now() + timedelta(minutes=6)

        assert refunds_send_stuck(now=timezone.now()) == 0  # too fresh: maybe still in flight
        assert refunds_send_stuck(now=later) == 1
        assert refunds_send_stuck(now=later) == 0

        assert Refund.objects.get(pk=refund.pk).status == "succeeded"
        assert len(fake_wechat.calls_to("/secapi/pay/refund")) == 1
