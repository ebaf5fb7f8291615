"""One market coupon raced for real (own connections, a barrier) at three store counters (POS), in the shop
and by staff taking the voucher by code: exactly one use, the voucher follows it, no deadlock."""

from __future__ import annotations

from types import SimpleNamespace

from django_tenants.utils import schema_context

from miniprograms.models import Coupon, Order
from miniprograms.services.coupons import coupon_template_create
from miniprograms.services.orders import order_place
from miniprograms.services.pos import pos_orders_record
from rights_market.brandside.models import Voucher
from rights_market.brandside.services import voucher_claim, voucher_issue, voucher_use
from tests.miniprograms.conftest import build_world
from tests.miniprograms.test_concurrency import race


def test_one_market_coupon_raced_at_counters_shop_and_staff_is_used_once(new_brand, fake_wechat):
    brand = new_brand("mkrace")
    w = build_world(brand, fake_wechat, stock=10, price_fen=1500)
    with schema_context(w.schema):
        template = coupon_template_create(
            name="10 off 20", kind="amount_off", amount_off_fen=1000, threshold_fen=2000, total_stock=5
        )
        offer = SimpleNamespace(
            pk=1,
            title="10 off 20",
            kind="coupon",
            face_value_fen=1000,
            voucher_valid_days=7,
            valid_until=None,
            source_ref=f"coupon_template:{template.pk}",
        )
        voucher = voucher_issue(exchange_id=900_001, offer=offer, accepting_brand_id=1)
        claimed = voucher_claim(code=voucher.code, openid="o-racer")
        member = claimed.claimed_member

    def pos(store):
        line = {"sku_code": w.sku.code, "quantity": 2, "unit_price_fen": 1500}
        [result] = pos_orders_record(
            store=store, receipts=[{"receipt_no": f"R-{store.code}", "coupon_code": voucher.code, "lines": [line]}]
        )
        return "ok" if result.status == "created" else result.error["code"]

    def shop(_):
        order_place(
            member=member, shop=w.shop, items=[{"sku_id": w.sku.pk, "quantity": 2}], coupon_id=claimed.coupon_id
        )
        return "ok"

    def staff(store):
        voucher_use(code=voucher.code, store_code=store.code, order_amount_fen=3000)
        return "ok"

    attempts = [(pos, w.hq_store), (pos, w.s1), (pos, w.s2), (shop, None), (shop, None), (staff, w.s1), (staff, w.s2)]
    results = race(w.schema, lambda a: a[0](a[1]), attempts)

    assert results.count("ok") == 1 and results.count("coupon_unusable") == len(attempts) - 1, results
    with schema_context(w.schema):
        coupon = Coupon.objects.get(pk=claimed.coupon_id)
        voucher.refresh_from_db()
        assert coupon.status == "used" and voucher.status == "used" and voucher.used_at == coupon.used_at
        assert Order.objects.filter(coupon=coupon).count() <= 1
        assert Voucher.objects.filter(coupon=coupon).count() == 1
