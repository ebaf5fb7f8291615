from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from miniprograms.models import CommissionEntry, Order, ShopSku
from miniprograms.services.guides import commission_rule_set, guide_share_code_create, guide_touch_record
from miniprograms.services.orders import order_place
from miniprograms.services.payments import order_mark_paid_from_notification, orders_cancel_expired
from points.models import PointsEntry

pytestmark = pytest.mark.django_db


def place(client, w, qty=2, shop=None, **extra):
    return client.post(
        "/api/v1/mp/orders",
        {"shop_id": (shop or w.shop).pk, "items": [{"sku_id": w.sku.pk, "quantity": qty}], **extra},
        format="json",
    )


def stock(w, entry=None):
    with schema_context(w.schema):
        return ShopSku.objects.get(pk=(entry or w.entry).pk).stock


def test_order_snapshots_prices_and_reserves_stock(world, member_client):
    response = place(member_client(world, world.alice), world, qty=3)

    body = response.json()
    assert response.status_code == 201
    assert body["subtotal_fen"] == 3000 and body["total_fen"] == 3000 and body["status"] == "pending_payment"
    assert body["lines"][0]["unit_price_fen"] == 1000 and body["lines"][0]["product_name"] == "Green tea"
    assert stock(world) == 7


def test_out_of_stock_reserves_nothing(world, member_client):
    response = place(member_client(world, world.alice), world, qty=11)
    assert response.status_code == 409 and response.json()["error"]["code"] == "out_of_stock"
    assert stock(world) == 10


def test_bad_cart_is_400_with_fields(world, member_client):
    response = member_client(world, world.alice).post(
        "/api/v1/mp/orders", {"shop_id": world.shop.pk, "items": []}, format="json"
    )
    assert response.status_code == 400 and "items" in response.json()["error"]["fields"]


def test_members_see_only_their_own_orders(world, member_client):
    alice, bob = member_client(world, world.alice), member_client(world, world.bob)
    order_id = place(alice, world).json()["id"]

    assert [o["id"] for o in alice.get("/api/v1/mp/orders").json()["results"]] == [order_id]
    assert bob.get("/api/v1/mp/orders").json()["results"] == []
    assert bob.get(f"/api/v1/mp/orders/{order_id}").status_code == 404
    assert bob.post(f"/api/v1/mp/orders/{order_id}/cancel").status_code == 404
    assert bob.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 404


def test_store_managers_see_only_their_franchisees_orders(world, member_client, manager_client):
    order_id = place(member_client(world, world.alice), world, shop=world.shop1).json()["id"]

    m1 = manager_client(world, "m1").get("/api/v1/console/orders").json()["results"]
    m2 = manager_client(world, "m2").get("/api/v1/console/orders").json()["results"]

    assert [o["id"] for o in m1] == [order_id] and m2 == []
    assert (
        manager_client(world, "m2")
        .post(f"/api/v1/console/orders/{order_id}/fulfilment", {"status": "ready_for_pickup"}, format="json")
        .status_code
        == 404
    )


def test_cancel_releases_stock(world, member_client):
    client = member_client(world, world.alice)
    order_id = place(client, world, qty=4).json()["id"]

    response = client.post(f"/api/v1/mp/orders/{order_id}/cancel")

    assert response.json()["status"] == "cancelled" and stock(world) == 10
    assert client.post(f"/api/v1/mp/orders/{order_id}/cancel").status_code == 409


def test_expired_unpaid_orders_are_cancelled_and_stock_released(world):
    with schema_context(world.schema):
        order = order_place(
            member=world.alice, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 5}], appid=world.app.appid
        )
        later = order_place(
            member=world.bob, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 1}], appid=world.app.appid
        )
        # the second order was placed 20 minutes after the first: it expires 20 minutes later
        Order.objects.filter(pk=later.pk).update(expires_at=later.expires_at + timedelta(minutes=20))
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 4
        # before either expires: nothing
        assert orders_cancel_expired(now=order.expires_at - timedelta(seconds=1)) == 0
        # when only the first has expired: only it is cancelled, its 5 back in stock
        assert orders_cancel_expired(now=order.expires_at + timedelta(minutes=1)) == 1
        assert Order.objects.get(pk=order.pk).status == "cancelled"
        assert Order.objects.get(pk=later.pk).status == "pending_payment"
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 9
        # then the second, at its own expiry
        assert orders_cancel_expired(now=later.expires_at + timedelta(minutes=21)) == 1
        assert Order.objects.get(pk=later.pk).status == "cancelled"
        assert ShopSku.objects.get(pk=world.entry.pk).stock == 10


def test_expired_order_that_was_paid_at_wechat_is_marked_paid_not_cancelled(world, member_client, fake_wechat):
    client = member_client(world, world.alice)
    order_id = place(client, world).json()["id"]
    client.post(f"/api/v1/mp/orders/{order_id}/pay")
    with schema_context(world.schema):
        number = Order.objects.get(pk=order_id).number
    fake_wechat.pay_notification(number)  # paid at WeChat, notification lost

    with schema_context(world.schema):
        assert orders_cancel_expired(now=timezone.now() + timedelta(minutes=31)) == 0
        assert Order.objects.get(pk=order_id).status == "paid"


def test_pay_returns_signed_request_payment_params(world, member_client, fake_wechat):
    client = member_client(world, world.alice)
    order_id = place(client, world).json()["id"]

    response = client.post(f"/api/v1/mp/orders/{order_id}/pay")

    params = response.json()["request_payment"]
    assert response.status_code == 200
    assert params["package"].startswith("prepay_id=wx") and params["signType"] == "MD5"
    from tests.fake_wechat.server import _pay_sign

    assert params["paySign"] == _pay_sign(
        {"appId": world.app.appid, **{k: v for k, v in params.items() if k != "paySign"}}, "k" * 32
    )
    sent = fake_wechat.calls_to("/pay/unifiedorder")[0][3].decode()
    assert "<total_fee>2000</total_fee>" in sent and world.alice.openid in sent


def test_pay_with_hmac_sha256_merchant(brand_a, fake_wechat, member_client):
    from tests.miniprograms.conftest import build_world

    w = build_world(brand_a, fake_wechat, sign_type="HMAC-SHA256")
    client = member_client(w, w.alice)
    order_id = place(client, w).json()["id"]
    params = client.post(f"/api/v1/mp/orders/{order_id}/pay").json()["request_payment"]
    with schema_context(w.schema):
        data = fake_wechat.pay_notification(Order.objects.get(pk=order_id).number)
        assert params["signType"] == "HMAC-SHA256"
        assert order_mark_paid_from_notification(data=data) == "paid"


def _paid_order(w, client, fake):
    order_id = place(client, w).json()["id"]
    client.post(f"/api/v1/mp/orders/{order_id}/pay")
    with schema_context(w.schema):
        number = Order.objects.get(pk=order_id).number
    return order_id, number


def test_duplicate_notification_has_one_effect(world, member_client, fake_wechat):
    with schema_context(world.schema):
        commission_rule_set(product=world.product, rate_bp=1000)
        scene = guide_share_code_create(guide=world.guide, shop=world.shop)["scene"]
        guide_touch_record(member=world.alice, scene=scene)
    order_id, number = _paid_order(world, member_client(world, world.alice), fake_wechat)
    data = fake_wechat.pay_notification(number)

    with schema_context(world.schema):
        outcomes = [order_mark_paid_from_notification(data=dict(data)) for _ in range(3)]
        order = Order.objects.get(pk=order_id)
        assert outcomes == ["paid", "duplicate", "duplicate"]
        assert order.status == "paid" and order.transaction_id == data["transaction_id"]
        assert order.events.filter(status="paid").count() == 1
        assert PointsEntry.objects.filter(reference=number).count() == 1  # 20 yuan at the default 1 point per yuan
        entry = CommissionEntry.objects.get(order=order)
        assert entry.amount_fen == 200 and entry.guide_id == world.guide.pk and entry.status == "pending"


def test_mismatched_amount_changes_nothing(world, member_client, fake_wechat):
    order_id, number = _paid_order(world, member_client(world, world.alice), fake_wechat)
    data = fake_wechat.pay_notification(number, total_fee=1)

    with schema_context(world.schema):
        assert order_mark_paid_from_notification(data=data) == "rejected"
        assert Order.objects.get(pk=order_id).status == "pending_payment"


@pytest.mark.parametrize("tamper", ["bad_key", "edited", "stale", "other_appid"])
def test_forged_notification_changes_nothing(world, member_client, fake_wechat, tamper):
    order_id, number = _paid_order(world, member_client(world, world.alice), fake_wechat)
    if tamper == "bad_key":
        data = fake_wechat.pay_notification(number, sign_key="x" * 32)
    elif tamper == "stale":
        data = fake_wechat.pay_notification(number, time_end="20200101000000")
    else:
        data = fake_wechat.pay_notification(number)
        if tamper == "edited":
            data["out_trade_no"] = number  # same, but change the payer
            data["openid"] = "o-attacker"
        else:
            data["appid"] = "wxbeta000000000001"

    with schema_context(world.schema):
        assert order_mark_paid_from_notification(data=data) == "rejected"
        assert Order.objects.get(pk=order_id).status == "pending_payment"


def test_notification_for_other_brands_order_changes_nothing(world, world_b, member_client, fake_wechat):
    order_id, number = _paid_order(world, member_client(world, world.alice), fake_wechat)
    data = fake_wechat.pay_notification(number)

    with schema_context(world_b.schema):
        assert order_mark_paid_from_notification(data=data) == "rejected"
    with schema_context(world.schema):
        assert Order.objects.get(pk=order_id).status == "pending_payment"


def test_attribution_window_expired_means_no_guide(world):
    from miniprograms.models import GuideTouch

    with schema_context(world.schema):
        scene = guide_share_code_create(guide=world.guide, product=world.product)["scene"]
        touch = guide_touch_record(member=world.alice, scene=scene)
        GuideTouch.objects.filter(pk=touch.pk).update(touched_at=timezone.now() - timedelta(days=8))
        order = order_place(member=world.alice, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 1}])
        assert order.guide_id is None


def test_pay_notify_handler_is_registered_and_refuses_mismatch(world, member_client, fake_wechat):
    from callbacks.registry import PermanentFailure
    from miniprograms.callback_handlers import pay_notified

    order_id, number = _paid_order(world, member_client(world, world.alice), fake_wechat)
    with schema_context(world.schema):
        with pytest.raises(PermanentFailure):
            pay_notified({"payload": fake_wechat.pay_notification(number, total_fee=1)})
        pay_notified({"payload": fake_wechat.pay_notification(number)})
        pay_notified({"payload": fake_wechat.pay_notification(number)})
        assert Order.objects.get(pk=order_id).status == "paid"
