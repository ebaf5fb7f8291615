"""Commission payouts through WeChat Pay v3 商家转账 (the brand's own merchant, the fake in WeChat's formats): a
lost answer is retried with the same out_bill_no and pays once; the guide confirms receipt (WAIT_USER_CONFIRM with
package_info on their statement); FAIL leaves the payout approved and retryable with a new out_bill_no."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, CommissionPayout
from miniprograms.services.guides import (
    commission_rule_set,
    commissions_mark_payable,
    guide_share_code_create,
    guide_touch_record,
)
from miniprograms.services.payouts import commission_payout_transfers_refresh
from tests.fake_wechat.transfer_v3 import BILLS
from tests.miniprograms.test_commission_payouts import _paid
from tests.wechatpay_v3 import certificate_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/console/commission-payouts"


def merchant_v3_install(world, fake, keys) -> None:
    """The brand's own merchant on APIv3: its apiclient certificate and key, APIv3 key, WeChat Pay public key."""
    serial, cert_pem, _, _ = certificate_for(keys.merchant_key)
    app = world.app
    app.mch_cert_pem, app.mch_cert_key_pem, app.mch_apiv3_key = cert_pem, keys.merchant_pem, keys.apiv3_key
    app.mch_wechatpay_public_key, app.mch_wechatpay_public_key_id = keys.platform_public_pem, keys.public_key_id
    app.full_clean()
    app.save()
    fake.pay_v3_merchant(app.mch_id, app.appid, keys.merchant_public_pem, serial, keys.apiv3_key)


def _approved_payout(world, member_client, hq, fake) -> dict:
    with schema_context(world.schema):
        commission_rule_set(product=world.product, rate_bp=1000)
        scene = guide_share_code_create(guide=world.guide, shop=world.shop)["scene"]
        guide_touch_record(member=world.alice, scene=scene)
        world.guide.openid = "o-guide-" + world.schema
        world.guide.save(update_fields=["openid"])
    order_id = _paid(world, member_client(world, world.alice), fake, 3)  # 3000 fen at 10%: 300
    with schema_context(world.schema):
        assert commissions_mark_payable(now=timezone.now() + timedelta(days=8)) == 1
        month = timezone.localtime(CommissionEntry.objects.get(order_id=order_id).payable_at).date().replace(day=1)
    payout = hq.post(URL, {"month": month.isoformat()}, format="json").json()["results"][0]
    return hq.post(f"{URL}/{payout['id']}/approve").json()


def _guide_statement(world, manager_client, client_for) -> dict:
    manager_client(world, "m1").post(
        f"/api/v1/staff/guides/{world.guide.pk}/login",
        {"username": "guide-g", "password": "guide-pass-123"},
        format="json",
    )
    guide = client_for(world.brand).as_staff("guide-g", "guide-pass-123")
    return guide.get("/api/v1/guide/payouts").json()["results"][0]


def _sent(fake) -> list[tuple]:
    bodies = [json.loads(call[3]) for call in fake.calls_to(BILLS)]
    return [(b["out_bill_no"], b["openid"], b["transfer_amount"], b["appid"]) for b in bodies]


def test_transfer_lost_answer_retried_once_confirmed_by_guide_then_paid(
    world, member_client, hq_client, manager_client, client_for, fake_wechat, wechatpay_v3_keys
):
    merchant_v3_install(world, fake_wechat, wechatpay_v3_keys)
    hq = hq_client(world)
    payout = _approved_payout(world, member_client, hq, fake_wechat)
    assert (payout["amount_fen"], payout["status"], payout["transfer_state"]) == (300, "approved", "")
    openid = "o-guide-" + world.schema

    # when WeChat makes the bill but its answer is lost
    fake_wechat.state["transfer_lose_answers"] = 1
    lost = hq.post(f"{URL}/{payout['id']}/pay", {"method": "wechat"}, format="json")
    assert lost.status_code == 502 and lost.json()["error"]["code"] == "payment_unavailable"
    assert hq.get(URL).json()["results"][0]["status"] == "approved"
    # then paying again sends the same out_bill_no and reads back the one bill: the guide is asked to confirm
    again = hq.post(f"{URL}/{payout['id']}/pay", {"method": "wechat"}, format="json").json()
    assert (again["status"], again["transfer_state"]) == ("approved", "WAIT_USER_CONFIRM")
    assert again["transfer_out_bill_no"] == payout["number"]
    assert _sent(fake_wechat) == [(payout["number"], openid, 300, world.app.appid)] * 2
    assert len(fake_wechat.pay_v3_transfer_bills) == 1
    statement = _guide_statement(world, manager_client, client_for)
    assert statement["transfer_state"] == "WAIT_USER_CONFIRM"
    assert statement["transfer_package_info"] == next(iter(fake_wechat.pay_v3_transfer_bills.values()))["package_info"]
    assert "transfer_package_info" not in hq.get(URL).json()["results"][0]
    # and it cannot also be paid offline while the transfer is under way
    offline = hq.post(f"{URL}/{payout['id']}/pay", {"method": "offline"}, format="json")
    assert (offline.status_code, offline.json()["error"]["code"]) == (409, "payout_transfer_in_flight")

    # when the guide confirms, the periodic follow-up pays the payout (once: a second run changes nothing)
    fake_wechat.pay_v3_transfer_finish(payout["number"], "SUCCESS")
    with schema_context(world.schema):
        assert commission_payout_transfers_refresh() == 1
        assert commission_payout_transfers_refresh() == 0
        paid = CommissionPayout.objects.get(pk=payout["id"])
    bill = next(iter(fake_wechat.pay_v3_transfer_bills.values()))
    assert (paid.status, paid.method, paid.transfer_state, paid.wechat_payment_no) == (
        "paid",
        "wechat",
        "SUCCESS",
        bill["transfer_bill_no"],
    )
    assert hq.post(f"{URL}/{payout['id']}/pay", {"method": "wechat"}, format="json").status_code == 409
    assert len(fake_wechat.calls_to(BILLS)) == 2
    assert _guide_statement(world, manager_client, client_for)["status"] == "paid"


def test_transfer_fail_leaves_payout_retryable_with_a_new_bill(
    world, member_client, hq_client, fake_wechat, wechatpay_v3_keys
):
    merchant_v3_install(world, fake_wechat, wechatpay_v3_keys)
    hq = hq_client(world)
    payout = _approved_payout(world, member_client, hq, fake_wechat)

    # when WeChat fails the bill (the guide's account cannot receive)
    fake_wechat.state["transfer_state"] = "FAIL"
    failed = hq.post(f"{URL}/{payout['id']}/pay", {"method": "wechat"}, format="json").json()
    assert (failed["status"], failed["transfer_state"]) == ("approved", "FAIL")
    assert "PAYEE_ACCOUNT_ABNORMAL" in failed["last_error"]

    # then paying again makes a new bill (a new out_bill_no), which WeChat pays at once
    fake_wechat.state["transfer_state"] = "SUCCESS"
    paid = hq.post(f"{URL}/{payout['id']}/pay", {"method": "wechat"}, format="json").json()
    assert (paid["status"], paid["transfer_state"], paid["last_error"]) == ("paid", "SUCCESS", "")
    assert paid["transfer_out_bill_no"] == payout["number"] + "N2"
    bills = fake_wechat.pay_v3_transfer_bills.values()
    assert sorted((b["out_bill_no"], b["state"]) for b in bills) == [
        (payout["number"], "FAIL"),
        (payout["number"] + "N2", "SUCCESS"),
    ]
    assert sum(b["transfer_amount"] for b in bills if b["state"] == "SUCCESS") == 300


def test_transfer_needs_the_merchants_v3_keys(world, member_client, hq_client, fake_wechat):
    # given a brand whose merchant has no APIv3 key: the v2 transfer is used, as before (not the v3 API)
    hq = hq_client(world)
    payout = _approved_payout(world, member_client, hq, fake_wechat)
    assert hq.post(f"{URL}/{payout['id']}/pay", {"method": "wechat"}, format="json").json()["status"] == "paid"
    assert fake_wechat.calls_to(BILLS) == []
