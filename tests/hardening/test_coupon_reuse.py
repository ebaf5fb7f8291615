"""Defect 10: a coupon given back (cancelled or refunded order) can really be used again; a used one cannot."""

import pytest
from django_tenants.utils import schema_context

from miniprograms.models import Coupon, Order
from miniprograms.services.coupons import coupon_template_create
from miniprograms.services.payments import order_mark_paid_from_notification
from tests.miniprograms.conftest import build_world, hq_client  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat)


def _setup(w, client_for):
    with schema_context(w.schema):
        template = coupon_template_create(name="2 yuan off", kind="amount_off", amount_off_fen=200, total_stock=5)
    client = client_for(w.brand).as_member(w.tokens[w.alice.pk])
    coupon_id = client.post(f"/api/v1/mp/coupon-templates/{template.pk}/claim").json()["id"]
    return client, coupon_id


def _order(w, client, coupon_id):
    return client.post(
        "/api/v1/mp/orders",
        {"shop_id": w.shop.pk, "items": [{"sku_id": w.sku.pk, "quantity": 1}], "coupon_id": coupon_id},
        format="json",
    )


def test_a_coupon_returned_by_a_cancelled_order_is_used_again(world, client_for):
    client, coupon_id = _setup(world, client_for)
    first = _order(world, client, coupon_id)
    assert first.status_code == 201 and first.json()["discount_fen"] == 200
    assert client.post(f"/api/v1/mp/orders/{first.json()['id']}/cancel").status_code == 200

    second = _order(world, client, coupon_id)

    assert second.status_code == 201, second.content
    assert second.json()["discount_fen"] == 200 and second.json()["total_fen"] == 800
    with schema_context(world.schema):
        assert Coupon.objects.get(pk=coupon_id).status == "used"
        assert Order.objects.get(pk=first.json()["id"]).coupon_id == coupon_id  # history kept
        assert Order.objects.get(pk=second.json()["id"]).coupon_id == coupon_id
    # while it is used by a live order, a third order cannot take it
    third = _order(world, client, coupon_id)
    assert third.status_code == 409 and third.json()["error"]["code"] == "coupon_unusable"


def test_a_coupon_returned_by_a_refund_is_used_again(world, client_for, hq_client, fake_wechat):  # noqa: F811
    client, coupon_id = _setup(world, client_for)
    order_id = _order(world, client, coupon_id).json()["id"]
    client.post(f"/api/v1/mp/orders/{order_id}/pay")
    with schema_context(world.schema):
        data = fake_wechat.pay_notification(Order.objects.get(pk=order_id).number)
        assert order_mark_paid_from_notification(data=data) == "paid"
    refund_id = client.post(f"/api/v1/mp/orders/{order_id}/refund", {"reason": "x"}, format="json").json()["refund_id"]
    assert hq_client(world).post(f"/api/v1/console/refunds/{refund_id}/approve").status_code == 200

    again = _order(world, client, coupon_id)

    assert again.status_code == 201, again.content
    assert again.json()["discount_fen"] == 200
