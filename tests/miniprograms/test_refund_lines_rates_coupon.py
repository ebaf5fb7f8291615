"""Partial refunds by line: each line's commission goes back at that line's own rate (not the order's average);
the coupon, whose discount is spread over the lines, comes back once every paid line is refunded and only while
it is still valid, and can then be used on a new order."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, Coupon, Order, OrderLine, Product, ShopSku, Sku
from miniprograms.services.coupons import coupon_template_create
from miniprograms.services.guides import commission_rule_set, guide_share_code_create, guide_touch_record
from miniprograms.services.payments import order_mark_paid_from_notification

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_rates(world, member_client, fake_wechat):
    """Alice, through a guide, buys 3 x 1000 of a product at 20% and 2 x 500 of another at 5% (its category's
    rate), with a 10% coupon: lines of 2700 (commission 540) and 900 (45); 3600 paid, 585 commission."""
    with schema_context(world.schema):
        other = Product.objects.create(name="Black tea", category=world.category)
        sku2 = Sku.objects.create(product=other, code="BT-" + world.schema[-6:], price_fen=500)
        ShopSku.objects.create(shop=world.shop, sku=sku2, stock=10)
        commission_rule_set(product=world.product, rate_bp=2000)
        commission_rule_set(category=world.category, rate_bp=500)
        template = coupon_template_create(name="10% off", kind="percent_off", percent_off=10, total_stock=10)
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
            "items": [{"sku_id": world.sku.pk, "quantity": 3}, {"sku_id": sku2.pk, "quantity": 2}],
        },
        format="json",
    ).json()
    assert client.post(f"/api/v1/mp/orders/{order['id']}/pay").status_code == 200
    with schema_context(world.schema):
        number = Order.objects.get(pk=order["id"]).number
        assert order_mark_paid_from_notification(data=fake_wechat.pay_notification(number)) == "paid"
        lines = {ln.sku_id: ln for ln in OrderLine.objects.filter(order_id=order["id"])}
        assert [(ln.total_fen, ln.commission_fen) for ln in lines.values()] == [(2700, 540), (900, 45)]
        assert CommissionEntry.objects.get(order_id=order["id"]).amount_fen == 585
    return {
        "id": order["id"],
        "coupon_id": coupon_id,
        "line1": lines[world.sku.pk].pk,
        "line2": lines[sku2.pk].pk,
        "client": client,
        "sku2": sku2,
    }


def _refund(o, hq, **what) -> dict:
    refund = o["client"].post(f"/api/v1/mp/orders/{o['id']}/refund", what, format="json")
    assert refund.status_code == 201, refund.content
    approved = hq.post(f"/api/v1/console/refunds/{refund.json()['refund_id']}/approve").json()
    assert approved["status"] == "succeeded"
    return refund.json()


def _entry(world, o) -> CommissionEntry:
    with schema_context(world.schema):
        return CommissionEntry.objects.get(order_id=o["id"])


def _coupon(world, o) -> str:
    with schema_context(world.schema):
        return Coupon.objects.get(pk=o["coupon_id"]).status


def test_each_line_reverses_its_own_rate_and_the_coupon_comes_back_with_the_last_line(
    world, hq_client, two_rates, fake_wechat
):
    o, hq = two_rates, hq_client(world)

    # when one unit of the 5% line is refunded (450 of 3600 paid)
    assert _refund(o, hq, lines=[{"line_id": o["line2"], "quantity": 1}])["amount_fen"] == 450
    # then its commission at 5% goes back (22 = 45 x 1/2, rounded down), not the order's share (585 x 450/3600 = 73)
    assert _entry(world, o).reversed_fen == 22
    assert _coupon(world, o) == "used"

    # when a unit of the 20% line is refunded (900)
    _refund(o, hq, lines=[{"line_id": o["line1"], "quantity": 1}])
    # then 180 more (540 x 1/3): 202
    assert _entry(world, o).reversed_fen == 202

    # when the rest of the 5% line and all but one unit of the 20% line are refunded, the coupon stays used
    _refund(o, hq, lines=[{"line_id": o["line2"], "quantity": 1}, {"line_id": o["line1"], "quantity": 1}])
    assert _entry(world, o).reversed_fen == 45 + 360
    assert _coupon(world, o) == "used"

    # when the last unit of the last line is refunded: everything back, the coupon too
    _refund(o, hq, lines=[{"line_id": o["line1"], "quantity": 1}])
    entry = _entry(world, o)
    assert (entry.reversed_fen, entry.status) == (585, "reversed")
    assert _coupon(world, o) == "available"

    # and the member uses the coupon again on a new order
    again = o["client"].post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "coupon_id": o["coupon_id"], "items": [{"sku_id": o["sku2"].pk, "quantity": 2}]},
        format="json",
    )
    assert again.status_code == 201, again.content
    assert (again.json()["discount_fen"], again.json()["total_fen"]) == (100, 900)
    assert _coupon(world, o) == "used"


def test_a_refund_by_amount_reverses_in_proportion(world, hq_client, two_rates):
    o, hq = two_rates, hq_client(world)
    _refund(o, hq, amount_fen=360)  # a tenth of what was paid
    assert _entry(world, o).reversed_fen == 58
    _refund(o, hq, lines=[{"line_id": o["line2"], "quantity": 2}])  # plus the whole 5% line
    assert _entry(world, o).reversed_fen == 58 + 45
    assert _coupon(world, o) == "used"


def test_a_coupon_whose_validity_passed_is_not_given_back(world, hq_client, two_rates):
    o, hq = two_rates, hq_client(world)
    with schema_context(world.schema):
        Coupon.objects.filter(pk=o["coupon_id"]).update(valid_until=timezone.now() - timedelta(minutes=1))
    _refund(o, hq, lines=[{"line_id": o["line1"], "quantity": 3}])
    _refund(o, hq, lines=[{"line_id": o["line2"], "quantity": 2}])
    assert _coupon(world, o) == "expired"
    with schema_context(world.schema):
        assert Order.objects.get(pk=o["id"]).events.filter(status="coupon_expired").count() == 1
    reuse = o["client"].post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "coupon_id": o["coupon_id"], "items": [{"sku_id": o["sku2"].pk, "quantity": 1}]},
        format="json",
    )
    assert reuse.status_code == 409


def test_refund_errors_speak_chinese_and_english_on_request(world, two_rates):
    o = two_rates
    url = f"/api/v1/mp/orders/{o['id']}/refund"
    too_many = {"lines": [{"line_id": o["line2"], "quantity": 3}]}
    chinese = o["client"].post(url, too_many, format="json").json()["error"]
    english = o["client"].post(url, too_many, format="json", HTTP_ACCEPT_LANGUAGE="en").json()["error"]
    assert (chinese["code"], chinese["message"]) == ("refund_exceeds_quantity", "退货数量超过了购买数量。")
    assert english["message"] == "More units than were bought."
    too_much = o["client"].post(url, {"amount_fen": 3601}, format="json").json()["error"]
    assert too_much["message"] == "退款总额将超过实付金额。"
