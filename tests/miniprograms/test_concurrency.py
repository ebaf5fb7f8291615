"""Many threads, each with its own database connection, racing on committed data in a brand of their own."""

from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from django.db import connection, transaction
from django_tenants.utils import schema_context

from core.errors import Conflict
from members.models import Member
from miniprograms.models import Coupon, CouponTemplate, Order, OrderEvent, OrderLine, ShopSku
from miniprograms.services.coupons import coupon_claim, coupon_template_create
from miniprograms.services.orders import order_place
from tests.helpers import call_blocked_on_our_lock
from tests.miniprograms.conftest import build_world

THREADS = 40


def race(schema, fn, args):
    barrier = Barrier(len(args))

    def run(arg):
        try:
            with schema_context(schema):
                barrier.wait()
                try:
                    return fn(arg)
                except Conflict as exc:
                    return exc.code
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        return list(pool.map(run, args))


@pytest.fixture
def racing_world(new_brand, fake_wechat):
    brand = new_brand("race")
    world = build_world(brand, fake_wechat, stock=10)
    with schema_context(brand.schema_name):
        world.buyers = [Member.objects.create(openid=f"o-buyer-{i}") for i in range(THREADS)]
    return world


def test_last_units_exactly_n_orders_never_negative(racing_world):
    w = racing_world

    def buy(member):
        order_place(member=member, shop=w.shop, items=[{"sku_id": w.sku.pk, "quantity": 1}])
        return "ok"

    results = race(w.schema, buy, w.buyers)

    with schema_context(w.schema):
        assert results.count("ok") == 10 and results.count("out_of_stock") == THREADS - 10
        assert ShopSku.objects.get(pk=w.entry.pk).stock == 0
        assert Order.objects.filter(shop=w.shop).count() == 10


def test_last_coupons_and_per_member_limit_under_concurrency(racing_world):
    w = racing_world
    with schema_context(w.schema):
        template = coupon_template_create(
            name="5 off", kind="amount_off", amount_off_fen=500, total_stock=7, per_member_limit=2
        )

    results = race(w.schema, lambda m: coupon_claim(member=m, template_id=template.pk) and "ok", w.buyers)
    # one member hammering a limit of 2
    same = race(w.schema, lambda _: coupon_claim(member=w.alice, template_id=template.pk) and "ok", list(range(10)))

    with schema_context(w.schema):
        assert results.count("ok") == 7 and results.count("coupon_sold_out") == THREADS - 7
        assert CouponTemplate.objects.get(pk=template.pk).issued_count == 7
        assert Coupon.objects.filter(template=template).count() == 7
        assert same.count("ok") == 0  # sold out already; the limit is exercised below

        roomy = coupon_template_create(
            name="roomy", kind="percent_off", percent_off=10, total_stock=1000, per_member_limit=2
        )
    limited = race(w.schema, lambda _: coupon_claim(member=w.alice, template_id=roomy.pk) and "ok", list(range(10)))
    with schema_context(w.schema):
        assert limited.count("ok") == 2 and limited.count("coupon_limit_reached") == 8
        assert Coupon.objects.filter(template=roomy, member=w.alice).count() == 2


def test_one_coupon_on_concurrent_orders_is_used_once(racing_world):
    w = racing_world
    with schema_context(w.schema):
        template = coupon_template_create(name="3 off", kind="amount_off", amount_off_fen=300, total_stock=5)
        coupon = coupon_claim(member=w.alice, template_id=template.pk)

    def buy(_):
        order_place(member=w.alice, shop=w.shop, items=[{"sku_id": w.sku.pk, "quantity": 1}], coupon_id=coupon.pk)
        return "ok"

    results = race(w.schema, buy, list(range(8)))

    with schema_context(w.schema):
        assert results.count("ok") == 1 and results.count("coupon_unusable") == 7
        assert ShopSku.objects.get(pk=w.entry.pk).stock == 9  # the losers' reservations rolled back
        assert Order.objects.get(coupon=coupon).total_fen == 700


def test_two_line_carts_race_for_two_short_skus_all_or_nothing(racing_world):
    """Carts of two SKUs in either order: each order takes both units or none, never more than there is."""
    from miniprograms.models import Sku

    w = racing_world
    with schema_context(w.schema):
        other = Sku.objects.create(product=w.product, code="GT-SHORT", price_fen=500)
        short = ShopSku.objects.create(shop=w.shop, sku=other, stock=6)

    def buy(i):
        pair = [{"sku_id": w.sku.pk, "quantity": 1}, {"sku_id": other.pk, "quantity": 1}]
        order_place(member=w.buyers[i], shop=w.shop, items=pair if i % 2 else pair[::-1])
        return "ok"

    results = race(w.schema, buy, list(range(THREADS)))

    with schema_context(w.schema):
        assert results.count("ok") == 6 and results.count("out_of_stock") == THREADS - 6
        assert ShopSku.objects.get(pk=short.pk).stock == 0
        assert ShopSku.objects.get(pk=w.entry.pk).stock == 10 - 6  # no unit of the roomier SKU left taken
        orders = Order.objects.filter(shop=w.shop)
        assert orders.count() == 6 and all(o.lines.count() == 2 for o in orders)


def test_a_buyer_who_read_stock_but_loses_the_row_leaves_no_order_behind(racing_world):
    """The stock is taken after the order's INSERTs: a buyer who saw the last unit in the cart read, wrote an order
    and then found the row taken gets out_of_stock, and the order, line and event he wrote are undone."""
    w = racing_world
    item = [{"sku_id": w.sku.pk, "quantity": 1}]
    with schema_context(w.schema):
        ShopSku.objects.filter(pk=w.entry.pk).update(stock=1)
        with transaction.atomic():
            mine = order_place(member=w.alice, shop=w.shop, items=item)  # holds the row until we commit
            thread, out = call_blocked_on_our_lock(w.schema, lambda: order_place(member=w.bob, shop=w.shop, items=item))
        thread.join(30)

        assert isinstance(out["result"], Conflict) and out["result"].code == "out_of_stock"
        assert list(Order.objects.values_list("pk", flat=True)) == [mine.pk]
        assert list(OrderLine.objects.values_list("order_id", flat=True)) == [mine.pk]
        assert list(OrderEvent.objects.values_list("order_id", flat=True)) == [mine.pk]
        assert ShopSku.objects.get(pk=w.entry.pk).stock == 0
