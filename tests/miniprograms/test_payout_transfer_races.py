"""Commission transfers (WeChat Pay v3 商家转账) on committed data: two pays racing make one bill and pay once;
WeChat is called after the attempt is committed, with no payout row locked."""

import pytest
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, CommissionPayout
from tests.fake_wechat.transfer_v3 import BILLS
from tests.miniprograms.test_payout_transfer_v3 import merchant_v3_install


@pytest.fixture
def approved_committed(new_brand, fake_wechat, wechatpay_v3_keys):
    """A committed brand whose merchant is on APIv3, a guide with an openid and an approved payout of 300 fen."""
    from django.utils import timezone as tz

    from miniprograms.models import Order
    from miniprograms.services.payouts import commission_payout_approve, commission_payouts_prepare
    from tests.miniprograms.conftest import build_world

    world = build_world(new_brand("payrace"), fake_wechat)
    merchant_v3_install(world, fake_wechat, wechatpay_v3_keys)
    with schema_context(world.schema):
        world.guide.openid = "o-guide-race"
        world.guide.save(update_fields=["openid"])
        order = Order.objects.create(number="N-race", store=world.s1, status="paid", subtotal_fen=3000, total_fen=3000)
        entry = CommissionEntry.objects.create(
            guide=world.guide, order=order, store=world.s1, amount_fen=300, status="payable", payable_at=tz.now()
        )
        (payout,) = commission_payouts_prepare(month=tz.localtime(entry.payable_at).date())
        world.payout = commission_payout_approve(payout=payout, actor_id=1)
    return world


def test_two_pays_at_once_make_one_bill_and_pay_once(approved_committed, fake_wechat):
    from miniprograms.services.payouts import commission_payout_pay
    from tests.miniprograms.test_concurrency import race

    w = approved_committed
    fake_wechat.state["transfer_state"] = "SUCCESS"

    def pay(_):
        return commission_payout_pay(payout=w.payout, actor_id=1, method="wechat").status

    results = race(w.schema, pay, [0, 1])

    # the second either read back the same bill (paid) or found the payout already paid (409)
    assert sorted(results) in (["paid", "paid"], ["paid", "payout_not_approved"])
    assert [(b["out_bill_no"], b["transfer_amount"]) for b in fake_wechat.pay_v3_transfer_bills.values()] == [
        (w.payout.number, 300)
    ]
    with schema_context(w.schema):
        paid = CommissionPayout.objects.get(pk=w.payout.pk)
        assert (paid.status, paid.transfer_attempt, paid.transfer_state) == ("paid", 1, "SUCCESS")


def test_wechat_is_called_after_commit_with_the_payout_unlocked(approved_committed, fake_wechat):
    from django.db import connection, transaction

    from miniprograms.services.payouts import commission_payout_pay

    w = approved_committed
    seen = []

    def look():  # in the fake's thread, on its own connection, while the transfer call is in flight
        try:
            with schema_context(w.schema), transaction.atomic():
                row = CommissionPayout.objects.select_for_update(nowait=True).get(pk=w.payout.pk)
                seen.append((row.status, row.transfer_attempt))
        except Exception as exc:  # recorded for the assertion below
            seen.append(repr(exc))
        finally:
            connection.close()

    fake_wechat.on_call[BILLS] = look
    with schema_context(w.schema):
        done = commission_payout_pay(payout=w.payout, actor_id=1, method="wechat")

    assert seen == [("approved", 1)]  # the attempt's out_bill_no was committed first; nothing held the row
    assert (done.status, done.transfer_state) == ("approved", "WAIT_USER_CONFIRM")
