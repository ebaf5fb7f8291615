"""Commission payouts: HQ drafts a month, approves (refunds before approval lower it), pays by WeChat transfer
(a failure is retried with the same partner_trade_no) or offline; a refund after payout is clawed back from the
next payout; the guide sees their statements, nobody else's."""

from datetime import timedelta

import pytest
import xmltodict
from django.utils import timezone
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, Order
from miniprograms.services.guides import (
    commission_rule_set,
    commissions_mark_payable,
    guide_share_code_create,
    guide_touch_record,
)
from miniprograms.services.payments import order_mark_paid_from_notification
from tests.fake_wechat.server import _xml

pytestmark = pytest.mark.django_db
TRANSFERS = "/mmpaymkttransfers/promotion/transfers"


def _paid(world, client, fake, quantity: int) -> int:
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": quantity}]},
        format="json",
    ).json()["id"]
    assert client.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200
    with schema_context(world.schema):
        number = Order.objects.get(pk=order_id).number
        assert order_mark_paid_from_notification(data=fake.pay_notification(number)) == "paid"
    return order_id


def _refund(client, hq, order_id, **what):
    refund = client.post(f"/api/v1/mp/orders/{order_id}/refund", what, format="json").json()
    assert hq.post(f"/api/v1/console/refunds/{refund['refund_id']}/approve").json()["status"] == "succeeded"


def test_month_payout_approved_paid_by_wechat_and_clawed_back_next_month(
    world, member_client, hq_client, manager_client, client_for, fake_wechat
):
    with schema_context(world.schema):
        commission_rule_set(product=world.product, rate_bp=1000)
        guide_touch_record(
            member=world.alice, scene=guide_share_code_create(guide=world.guide, shop=world.shop)["scene"]
        )
        world.guide.openid = "o-guide-" + world.schema
        world.guide.save(update_fields=["openid"])
    client, hq = member_client(world, world.alice), hq_client(world)
    first, second = _paid(world, client, fake_wechat, 2), _paid(world, client, fake_wechat, 1)  # 200 + 100
    with schema_context(world.schema):
        assert commissions_mark_payable(now=timezone.now() + timedelta(days=8)) == 2
        month = timezone.localtime(CommissionEntry.objects.get(order_id=first).payable_at).date().replace(day=1)
    url = "/api/v1/console/commission-payouts"

    # when HQ drafts the month (twice), and half of the first order is refunded before approval
    drafted = hq.post(url, {"month": month.isoformat()}, format="json")
    assert hq.post(url, {"month": month.isoformat()}, format="json").json()["results"] == []
    payout = drafted.json()["results"][0]
    assert (payout["commission_fen"], payout["amount_fen"], payout["status"]) == (300, 300, "draft")
    _refund(
        client,
        hq,
        first,
        lines=[{"line_id": client.get(f"/api/v1/mp/orders/{first}").json()["lines"][0]["id"], "quantity": 1}],
    )
    # a store manager cannot approve; HQ can, and the amount is what is left
    assert manager_client(world, "m1").post(f"{url}/{payout['id']}/approve").status_code == 403
    approved = hq.post(f"{url}/{payout['id']}/approve").json()
    assert (approved["commission_fen"], approved["amount_fen"], approved["status"]) == (200, 200, "approved")

    # when WeChat fails the transfer, then it is paid on the retry, once, with the same partner_trade_no
    fake_wechat.fail_next(TRANSFERS, _xml({"return_code": "FAIL", "return_msg": "system busy"}))
    failed = hq.post(f"{url}/{payout['id']}/pay", {"method": "wechat"}, format="json")
    assert failed.status_code == 502
    assert hq.get(url).json()["results"][0]["status"] == "approved"
    paid = hq.post(f"{url}/{payout['id']}/pay", {"method": "wechat"}, format="json").json()
    assert (paid["status"], paid["method"]) == ("paid", "wechat")
    sent = [xmltodict.parse(call[3])["xml"] for call in fake_wechat.calls_to(TRANSFERS)]
    assert [(s["partner_trade_no"], s["openid"], s["amount"]) for s in sent] == [
        (payout["number"], f"o-guide-{world.schema}", "200")
    ] * 2
    assert hq.post(f"{url}/{payout['id']}/pay", {"method": "offline"}, format="json").status_code == 409

    # when the second order is refunded after the payout, and a new order's commission comes due
    _refund(client, hq, second)
    third = _paid(world, client, fake_wechat, 3)  # 300
    with schema_context(world.schema):
        assert commissions_mark_payable(now=timezone.now() + timedelta(days=8)) == 1
    following = (month + timedelta(days=32)).replace(day=1)
    nxt = hq.post(url, {"month": following.isoformat()}, format="json").json()["results"][0]
    # then the next payout is the new commission less the clawback, paid offline
    assert (nxt["commission_fen"], nxt["clawback_fen"], nxt["amount_fen"]) == (300, 100, 200)
    hq.post(f"{url}/{nxt['id']}/approve")
    assert hq.post(f"{url}/{nxt['id']}/pay", {"method": "offline"}, format="json").json()["status"] == "paid"

    # the guide sees both statements, with the orders and the clawback behind them
    assert (
        manager_client(world, "m1")
        .post(
            f"/api/v1/staff/guides/{world.guide.pk}/login",
            {"username": "guide-g", "password": "guide-pass-123"},
            format="json",
        )
        .status_code
        == 200
    )
    statements = client_for(world.brand).as_staff("guide-g", "guide-pass-123").get("/api/v1/guide/payouts").json()
    with schema_context(world.schema):
        numbers = {pk: Order.objects.get(pk=pk).number for pk in (first, second, third)}
    assert [(s["amount_fen"], s["clawback_fen"], s["status"]) for s in statements["results"]] == [
        (200, 100, "paid"),
        (200, 0, "paid"),
    ]
    assert [e["order_number"] for e in statements["results"][0]["entries"]] == [numbers[third]]
    assert sorted(
        (e["order_number"], e["amount_fen"], e["reversed_fen"]) for e in statements["results"][1]["entries"]
    ) == sorted([(numbers[first], 200, 100), (numbers[second], 100, 100)])
    assert [c["amount_fen"] for c in statements["results"][0]["clawbacks"]] == [100]


def test_payouts_are_per_brand(world, world_b, hq_client):
    with schema_context(world.schema):
        from miniprograms.models import CommissionPayout

        payout = CommissionPayout.objects.create(
            guide=world.guide, month=timezone.localdate().replace(day=1), number="P-" + world.schema
        )
    assert hq_client(world_b).get("/api/v1/console/commission-payouts").json()["results"] == []
    assert hq_client(world_b).post(f"/api/v1/console/commission-payouts/{payout.pk}/approve").status_code == 404
    assert hq_client(world).post(f"/api/v1/console/commission-payouts/{payout.pk}/approve").status_code == 200
