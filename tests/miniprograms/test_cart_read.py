"""The cart read in SQL written once (selectors.shop_cart_entries, core.sql_reads) gives what its queryset gives."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from miniprograms.models import Product, ShopSku, Sku
from miniprograms.selectors import shop_cart_entries


def _queryset(shop, sku_ids):
    return ShopSku.objects.select_related("sku", "sku__product").filter(
        shop=shop, sku_id__in=sku_ids, on_sale=True, sku__active=True, sku__product__active=True
    )


def _as_values(entry: ShopSku) -> tuple:
    def fields(obj):
        return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}

    return fields(entry), fields(entry.sku), fields(entry.sku.product)


def test_the_cart_read_gives_what_its_queryset_gives(world, brand_a):
    with schema_context(brand_a.schema_name):
        # given: a JSON-valued SKU and product (converted from the database), a shop price, and each way out
        Sku.objects.filter(pk=world.sku.pk).update(attributes={"颜色": "绿", "size": [1, 2]})
        Product.objects.filter(pk=world.product.pk).update(image_urls=["https://img/1.jpg"])
        ShopSku.objects.filter(pk=world.entry.pk).update(price_fen=777)
        off_sale = ShopSku.objects.create(
            shop=world.shop, sku=Sku.objects.create(product=world.product, code="OFF", price_fen=5), on_sale=False
        )
        inactive_sku = ShopSku.objects.create(
            shop=world.shop, sku=Sku.objects.create(product=world.product, code="IN", price_fen=5, active=False)
        )
        retired = Product.objects.create(name="Retired", active=False)
        inactive_product = ShopSku.objects.create(
            shop=world.shop, sku=Sku.objects.create(product=retired, code="RET", price_fen=5)
        )
        elsewhere = ShopSku.objects.create(
            shop=world.shop2, sku=Sku.objects.create(product=world.product, code="ELSE", price_fen=5)
        )
        asked = [world.sku.pk] + [e.sku_id for e in (off_sale, inactive_sku, inactive_product, elsewhere)] + [10**9]

        # when
        with CaptureQueriesContext(connection) as queries:
            entries = shop_cart_entries(shop_id=world.shop.pk, sku_ids=asked)
            product_name = entries[world.sku.pk].sku.product.name  # attached: no query

        # then
        expected = {e.sku_id: _as_values(e) for e in _queryset(world.shop, asked)}
        assert list(expected) == [world.sku.pk]
        assert {k: _as_values(e) for k, e in entries.items()} == expected
        assert entries[world.sku.pk].sku.attributes == {"颜色": "绿", "size": [1, 2]}
        assert entries[world.sku.pk].effective_price_fen == 777
        assert product_name == world.product.name
        assert len([q for q in queries if not q["sql"].startswith("SET search_path")]) == 1


def test_the_cart_read_of_another_shop_or_an_empty_cart_finds_nothing(world, brand_a):
    with schema_context(brand_a.schema_name):
        assert shop_cart_entries(shop_id=world.shop2.pk, sku_ids=[world.sku.pk]) == {}
        assert shop_cart_entries(shop_id=world.shop.pk, sku_ids=[]) == {}


@pytest.mark.parametrize("brand_fixture", ["brand_a", "brand_b"])
def test_the_cart_read_reads_the_current_brand(request, brand_fixture, fake_wechat):
    from tests.miniprograms.conftest import build_world

    brand = request.getfixturevalue(brand_fixture)
    mine = build_world(brand, fake_wechat, stock=3)
    other = build_world(request.getfixturevalue("brand_b" if brand_fixture == "brand_a" else "brand_a"), fake_wechat)
    with schema_context(brand.schema_name):
        entries = shop_cart_entries(shop_id=mine.shop.pk, sku_ids=[mine.sku.pk, other.sku.pk])
        assert [(e.pk, e.stock, e.sku.code) for e in entries.values()] == [(mine.entry.pk, 3, mine.sku.code)]
