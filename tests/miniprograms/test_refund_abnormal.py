"""WeChat Pay v3 REFUND.ABNORMAL (the money could not reach the member's account): posted as WeChat posts it,
the refund is marked abnormal once, listed for HQ and the store's own manager (not another franchisee's), and
resolved by asking WeChat to send the money to the merchant's bank account (retryable on failure) or by recording
that the store paid the member offline."""

import json

import pytest
from django_tenants.utils import schema_context

from miniprograms.models import Order, Refund
from tests.miniprograms.pay_v3_helpers import notify, switch_to_v3
from tests.miniprograms.test_orders_payments import place
from tests.miniprograms.test_pay_v3 import order_of, pay, process_all

pytestmark = pytest.mark.django_db
LIST = "/api/v1/console/refunds/abnormal"


def _refunded_v3_order(world, member_client, hq_client, fake, *, shop=None) -> dict:
    subs = switch_to_v3(world, fake)
    client = member_client(world, world.alice)
    order_id = place(client, world, **({"shop": shop} if shop else {})).json()["id"]
    pay(client, order_id)
    notify(world.app.appid, *fake.pay_v3_notification(order_of(world, order_id).number))
    assert process_all(world.app.appid) == ["done"]
    refund = client.post(f"/api/v1/mp/orders/{order_id}/refund", {"reason": "r"}, format="json").json()
    assert hq_client(world).post(f"/api/v1/console/refunds/{refund['refund_id']}/approve").json()["status"] == (
        "succeeded"
    )
    with schema_context(world.schema):
        number = Refund.objects.get(pk=refund["refund_id"]).number
    return {"order_id": order_id, "refund_id": refund["refund_id"], "number": number, "client": client, "subs": subs}


def _abnormal_arrives(world, fake, number: str) -> None:
    headers, body = fake.pay_v3_refund_notification(number, status="ABNORMAL")
    assert notify(world.app.appid, headers, body).status_code == 204
    assert notify(world.app.appid, headers, body).status_code == 204  # redelivered: stored once
    assert process_all(world.app.appid) == ["done"]


def test_abnormal_refund_is_listed_then_sent_to_the_merchants_bank_account(
    world, member_client, hq_client, manager_client, fake_wechat, wechatpay_v3
):
    r = _refunded_v3_order(world, member_client, hq_client, fake_wechat)
    hq = hq_client(world)

    # when WeChat reports the refund ABNORMAL
    _abnormal_arrives(world, fake_wechat, r["number"])

    # then it is abnormal once, HQ sees it in the list, the member sees the step
    with schema_context(world.schema):
        refund = Refund.objects.get(pk=r["refund_id"])
        assert refund.abnormal_at is not None and refund.status == "succeeded"
        assert Order.objects.get(pk=r["order_id"]).events.filter(status="refund_abnormal").count() == 1
    listed = hq.get(LIST).json()["results"]
    assert [(x["id"], x["number"], x["amount_fen"]) for x in listed] == [(r["refund_id"], r["number"], 2000)]
    seen = r["client"].get(f"/api/v1/mp/orders/{r['order_id']}").json()["refunds"][0]
    assert seen["after_sales_status"] == "refund_abnormal"

    # when HQ asks WeChat to send it to the merchant's bank account, and WeChat fails once
    url = f"/api/v1/console/refunds/{r['refund_id']}/abnormal-resolve"
    path = f"/v3/refund/domestic/refunds/{refund.wechat_refund_id}/apply-abnormal-refund"
    fake_wechat.fail_next(path, {"code": "SYSTEM_ERROR", "message": "系统错误"}, status=500)
    failed = hq.post(url, {"resolution": "merchant_bank_card"}, format="json")
    assert failed.status_code == 502
    assert [x["id"] for x in hq.get(LIST).json()["results"]] == [r["refund_id"]]  # still open, retryable
    resolved = hq.post(url, {"resolution": "merchant_bank_card", "note": "called the member"}, format="json")

    # then it is resolved (WeChat asked once more with the same refund), off the list, refunded for the member
    assert resolved.status_code == 200, resolved.content
    assert resolved.json()["after_sales_status"] == "refunded"
    sent = [json.loads(call[3]) for call in fake_wechat.calls_to(path)]
    assert [(s["out_refund_no"], s["type"], s["sub_mchid"]) for s in sent] == [
        (r["number"], "MERCHANT_BANK_CARD", r["subs"]["brand"])
    ] * 2
    assert hq.get(LIST).json()["results"] == []
    with schema_context(world.schema):
        refund = Refund.objects.get(pk=r["refund_id"])
        assert (refund.abnormal_resolution, refund.last_error) == ("merchant_bank_card", "")
    again = hq.post(url, {"resolution": "offline"}, format="json")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "refund_not_abnormal")


def test_store_manager_resolves_own_abnormal_refund_offline_another_franchisee_cannot(
    world, member_client, hq_client, manager_client, fake_wechat, wechatpay_v3
):
    r = _refunded_v3_order(world, member_client, hq_client, fake_wechat, shop=world.shop1)  # store S1 of F1
    _abnormal_arrives(world, fake_wechat, r["number"])
    url = f"/api/v1/console/refunds/{r['refund_id']}/abnormal-resolve"
    own, other = manager_client(world, "m1"), manager_client(world, "m2")

    assert [x["id"] for x in own.get(LIST).json()["results"]] == [r["refund_id"]]
    assert other.get(LIST).json()["results"] == []
    assert other.post(url, {"resolution": "offline"}, format="json").status_code == 404
    bad = own.post(url, {"resolution": "cash"}, format="json")
    assert bad.status_code == 400

    done = own.post(url, {"resolution": "offline", "note": "paid in store"}, format="json")

    assert done.status_code == 200 and done.json()["after_sales_status"] == "refunded"
    assert own.get(LIST).json()["results"] == []
    with schema_context(world.schema):
        assert Order.objects.get(pk=r["order_id"]).events.filter(status="refund_abnormal_offline").count() == 1
        # no WeChat call for an offline settlement
    assert not [c for c in fake_wechat.calls if c[1].endswith("/apply-abnormal-refund")]


def test_abnormal_list_is_per_brand(world, world_b, member_client, hq_client, fake_wechat, wechatpay_v3):
    r = _refunded_v3_order(world, member_client, hq_client, fake_wechat)
    _abnormal_arrives(world, fake_wechat, r["number"])
    assert hq_client(world_b).get(LIST).json()["results"] == []
    url = f"/api/v1/console/refunds/{r['refund_id']}/abnormal-resolve"
    assert hq_client(world_b).post(url, {"resolution": "offline"}, format="json").status_code == 404
