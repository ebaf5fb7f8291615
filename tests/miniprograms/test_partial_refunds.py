"""Partial refunds (by line and quantity, by amount, the rest), each its own out_refund_no; points, commission,
coupon and stock back in proportion, once; after-sales steps the member sees; returns of goods."""

import pytest
import xmltodict
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, Coupon, Order, OrderLine, Refund, ShopSku, Sku
from miniprograms.services.coupons import coupon_template_create
from miniprograms.services.guides import commission_rule_set, guide_share_code_create, guide_touch_record
from miniprograms.services.payments import order_mark_paid_from_notification
from points.models import PointsEntry

pytestmark = pytest.mark.django_db


def refunds_sent(fake) -> list[tuple[str, str, str]]:
    sent = [xmltodict.parse(call[3])["xml"] for call in fake.calls_to("/secapi/pay/refund")]
    return [(s["out_refund_no"], s["total_fee"], s["refund_fee"]) for s in sent]


@pytest.fixture
def two_line_order(world, member_client, fake_wechat):
    """Alice, attributed to a guide (10% commission), buys 3 x 1000 and 1 x 500 with a 10% coupon: lines of 2700
    and 450, 3150 paid, 31 points, 315 commission."""
    with schema_context(world.schema):
        sku2 = Sku.objects.create(product=world.product, code="GT-two-" + world.schema[-6:], price_fen=500)
        entry2 = ShopSku.objects.create(shop=world.shop, sku=sku2, stock=10)
        template = coupon_template_create(name="10% off", kind="percent_off", percent_off=10, total_stock=10)
        commission_rule_set(category=world.category, rate_bp=1000)
        guide_touch_record(
            member=world.alice, scene=guide_share_code_create(guide=world.guide, shop=world.shop)["scene"]
        )
    client = member_client(world, world.alice)
    coupon_id = client.post(f"/api/v1/mp/coupon-templates/{template.pk}/claim").json()["id"]
    order = client.post(
        "/api/v1/mp/orders",
        {
            "shop_id": world.shop.pk,
            "coupon_id": coupon_id,
            "items": [{"sku_id": world.sku.pk, "quantity": 3}, {"sku_id": sku2.pk, "quantity": 1}],
        },
        format="json",
    ).json()
    assert client.post(f"/api/v1/mp/orders/{order['id']}/pay").status_code == 200
    with schema_context(world.schema):
        number = Order.objects.get(pk=order["id"]).number
        assert order_mark_paid_from_notification(data=fake_wechat.pay_notification(number)) == "paid"
        assert CommissionEntry.objects.get(order_id=order["id"]).amount_fen == 315
        assert [e.amount for e in PointsEntry.objects.filter(reference=number)] == [31]
    lines = {ln["sku_id"]: ln for ln in order["lines"]}
    assert (order["total_fen"], lines[world.sku.pk]["total_fen"], lines[sku2.pk]["total_fen"]) == (3150, 2700, 450)
    return {
        "id": order["id"],
        "number": number,
        "coupon_id": coupon_id,
        "entry2": entry2,
        "line1": lines[world.sku.pk]["id"],
        "line2": lines[sku2.pk]["id"],
        "client": client,
    }


def test_refund_by_line_then_by_amount_then_the_rest_reverses_in_proportion_once(
    world, hq_client, fake_wechat, two_line_order, member_client
):
    o, hq = two_line_order, hq_client(world)
    client, url = o["client"], f"/api/v1/mp/orders/{o['id']}/refund"

    # when: one unit of the first line
    first = client.post(url, {"lines": [{"line_id": o["line1"], "quantity": 1}]}, format="json")
    assert first.status_code == 201 and first.json()["amount_fen"] == 900
    assert hq.post(f"/api/v1/console/refunds/{first.json()['refund_id']}/approve").json()["status"] == "succeeded"
    # then a third of what the line paid came back, a unit is on the shelf, and points and commission in proportion
    with schema_context(world.schema):
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 8
        assert sorted(e.amount for e in PointsEntry.objects.filter(reference=o["number"])) == [-8, 31]
        entry = CommissionEntry.objects.get(order_id=o["id"])
        assert (entry.reversed_fen, entry.status) == (90, "pending")
        assert Coupon.objects.get(pk=o["coupon_id"]).status == "used"
        assert Order.objects.get(pk=o["id"]).status == "paid"

    # refused: more units than bought, more money than is left, both kinds at once, another member
    too_many = client.post(url, {"lines": [{"line_id": o["line1"], "quantity": 3}]}, format="json")
    too_much = client.post(url, {"amount_fen": 2251}, format="json")
    both = client.post(url, {"amount_fen": 1, "lines": [{"line_id": o["line2"], "quantity": 1}]}, format="json")
    other = member_client(world, world.bob).post(url, {"amount_fen": 1}, format="json")
    assert (too_many.status_code, too_many.json()["error"]["code"]) == (409, "refund_exceeds_quantity")
    assert (too_much.status_code, too_much.json()["error"]["code"]) == (409, "refund_exceeds_paid")
    assert both.status_code == 400 and other.status_code == 404

    # when: an amount, then everything that is left
    second = client.post(url, {"amount_fen": 100}, format="json").json()
    assert hq.post(f"/api/v1/console/refunds/{second['refund_id']}/approve").json()["status"] == "succeeded"
    rest = client.post(url, {"reason": "the rest"}, format="json").json()
    assert rest["amount_fen"] == 2150
    assert hq.post(f"/api/v1/console/refunds/{rest['refund_id']}/approve").json()["status"] == "succeeded"
    again = hq.post(f"/api/v1/console/refunds/{rest['refund_id']}/approve")

    # then three refunds, each its own out_refund_no, adding up to what was paid; everything back exactly once
    assert again.status_code == 409
    with schema_context(world.schema):
        numbers = [
            Refund.objects.get(pk=pk).number
            for pk in (first.json()["refund_id"], second["refund_id"], rest["refund_id"])
        ]
        assert refunds_sent(fake_wechat) == [
            (numbers[0], "3150", "900"),
            (numbers[1], "3150", "100"),
            (numbers[2], "3150", "2150"),
        ]
        order = Order.objects.get(pk=o["id"])
        assert (order.status, order.refunded_fen) == ("refunded", 3150)
        assert sorted(e.amount for e in PointsEntry.objects.filter(reference=o["number"])) == [-22, -8, -1, 31]
        entry = CommissionEntry.objects.get(order_id=o["id"])
        assert (entry.reversed_fen, entry.status) == (315, "reversed")
        assert Coupon.objects.get(pk=o["coupon_id"]).status == "available"
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10
        assert ShopSku.objects.get(pk=o["entry2"].pk).stock == 10
        assert list(OrderLine.objects.filter(order=order).values_list("refunded_quantity", flat=True)) == [3, 1]
    detail = client.get(f"/api/v1/mp/orders/{o['id']}").json()
    assert [(r["amount_fen"], r["after_sales_status"]) for r in detail["refunds"]] == [
        (2150, "refunded"),
        (100, "refunded"),
        (900, "refunded"),
    ]
    assert detail["refunded_fen"] == 3150


def test_rejected_partial_refund_gives_its_units_and_amount_back(world, hq_client, fake_wechat, two_line_order):
    o, hq = two_line_order, hq_client(world)
    url = f"/api/v1/mp/orders/{o['id']}/refund"
    asked = o["client"].post(url, {"lines": [{"line_id": o["line2"], "quantity": 1}]}, format="json").json()
    with schema_context(world.schema):
        assert Order.objects.get(pk=o["id"]).refunded_fen == 450

    assert hq.post(f"/api/v1/console/refunds/{asked['refund_id']}/reject").json()["status"] == "rejected"

    with schema_context(world.schema):
        order = Order.objects.get(pk=o["id"])
        assert (order.status, order.refunded_fen) == ("paid", 0)
        assert OrderLine.objects.get(pk=o["line2"]).refunded_quantity == 0
    assert refunds_sent(fake_wechat) == []
    assert o["client"].post(url, {"lines": [{"line_id": o["line2"], "quantity": 1}]}, format="json").status_code == 201


def test_return_of_goods_steps_the_member_sees(world, member_client, hq_client, manager_client, world_b, fake_wechat):
    client = member_client(world, world.alice)
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 2}]},
        format="json",
    ).json()["id"]
    client.post(f"/api/v1/mp/orders/{order_id}/pay")
    with schema_context(world.schema):
        number = Order.objects.get(pk=order_id).number
        assert order_mark_paid_from_notification(data=fake_wechat.pay_notification(number)) == "paid"
    hq = hq_client(world)
    for step in ("ready_for_pickup", "picked_up"):
        assert (
            hq.post(f"/api/v1/console/orders/{order_id}/fulfilment", {"status": step}, format="json").status_code == 200
        )

    def seen():
        detail = client.get(f"/api/v1/mp/orders/{order_id}").json()
        return detail["status"], [r["after_sales_status"] for r in detail["refunds"]]

    # when the member sends the goods back
    refund_id = client.post(
        f"/api/v1/mp/orders/{order_id}/refund", {"return_goods": True, "reason": "too sweet"}, format="json"
    ).json()["refund_id"]
    assert seen() == ("refunding", ["return_requested"])
    # approval authorises the return; no money moves yet
    assert hq.post(f"/api/v1/console/refunds/{refund_id}/approve").json()["status"] == "approved"
    assert seen() == ("refunding", ["approved"]) and refunds_sent(fake_wechat) == []
    # nobody outside the store's scope or brand can mark the goods received
    assert manager_client(world, "m1").post(f"/api/v1/console/refunds/{refund_id}/goods-received").status_code == 404
    assert hq_client(world_b).post(f"/api/v1/console/refunds/{refund_id}/goods-received").status_code == 404
    assert seen() == ("refunding", ["approved"])
    # the store has them: the money goes back and they are on the shelf again, though they had been picked up
    done = hq.post(f"/api/v1/console/refunds/{refund_id}/goods-received")
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    assert seen() == ("refunded", ["refunded"])
    with schema_context(world.schema):
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10
        assert refunds_sent(fake_wechat) == [(Refund.objects.get(pk=refund_id).number, "2000", "2000")]
    events = [e["status"] for e in client.get(f"/api/v1/mp/orders/{order_id}").json()["events"]]
    assert events[-4:] == ["return_requested", "refund_approved", "goods_received", "refunded"]
