"""Catalog and shops: categories, products with SKUs, shops per store, a shop's assortment (price override and
stock per SKU), and HQ pushing a product to many shops at once."""

from __future__ import annotations

from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, NotFound
from members.models import Store
from miniprograms.models import Category, Product, Shop, ShopSku, Sku


@transaction.atomic
def category_create(*, name: str, parent: Category | None = None, sort: int = 0) -> Category:
    category = Category(name=name, parent=parent, sort=sort)
    category.full_clean()
    category.save()
    return category


@transaction.atomic
def product_create(
    *,
    name: str,
    skus: list[dict],
    category: Category | None = None,
    description: str = "",
    image_urls: list[str] | None = None,
) -> Product:
    """A product with its SKUs (each: code, price_fen, barcode?, attributes?). SKU codes are unique."""
    if not skus:
        raise ApplicationError(_("A product needs at least one SKU."), fields={"skus": ["required"]})
    product = Product(name=name, category=category, description=description, image_urls=image_urls or [])
    product.full_clean()
    product.save()
    for item in skus:
        sku = Sku(
            product=product,
            code=item["code"],
            price_fen=item["price_fen"],
            barcode=item.get("barcode", ""),
            attributes=item.get("attributes") or {},
        )
        sku.full_clean()
        sku.save()
    return product


@transaction.atomic
def shop_create(*, store: Store, name: str, theme: str = "", is_open: bool = True) -> Shop:
    shop = Shop(store=store, name=name, theme=theme, is_open=is_open)
    shop.full_clean()
    shop.save()
    return shop


SHOP_EDITABLE = ("name", "theme", "is_open")


@transaction.atomic
def shop_update(*, shop: Shop, **changes) -> Shop:
    bad = [k for k in changes if k not in SHOP_EDITABLE]
    if bad:
        raise ApplicationError(_("These fields cannot be changed."), fields={k: ["not editable"] for k in bad})
    shop = Shop.objects.select_for_update().get(pk=shop.pk)
    for key, value in changes.items():
        setattr(shop, key, value)
    shop.full_clean()
    shop.save(update_fields=list(changes))
    return shop


_UNSET = object()


@transaction.atomic
def shop_sku_set(
    *, shop: Shop, sku: Sku, price_fen=_UNSET, stock: int | None = None, on_sale: bool | None = None
) -> ShopSku:
    """Put a SKU on a shop's shelf or change it there: price override (None: list price), stock (absolute),
    on sale. Setting the stock is for stock-taking; orders move it only by conditional UPDATEs."""
    entry, _ = ShopSku.objects.select_for_update().get_or_create(shop=shop, sku=sku)
    fields = []
    if price_fen is not _UNSET:
        entry.price_fen = price_fen
        fields.append("price_fen")
    if stock is not None:
        entry.stock = stock
        fields.append("stock")
    if on_sale is not None:
        entry.on_sale = on_sale
        fields.append("on_sale")
    entry.full_clean()
    if fields:
        entry.save(update_fields=fields)
    return entry


_PUSH_UPSERT = """
    INSERT INTO miniprograms_shopsku (shop_id, sku_id, price_fen, stock, on_sale)
    SELECT shop.id, sku.id, %(price_fen)s, COALESCE(%(stock)s, 0), true
    FROM miniprograms_shop shop CROSS JOIN miniprograms_sku sku
    WHERE shop.id = ANY(%(shop_ids)s) AND sku.product_id = %(product_id)s AND sku.active
    ON CONFLICT (shop_id, sku_id) DO UPDATE SET
        on_sale = true,
        stock = COALESCE(%(stock)s, miniprograms_shopsku.stock),
        price_fen = CASE WHEN %(set_price)s THEN EXCLUDED.price_fen ELSE miniprograms_shopsku.price_fen END"""


def shop_skus_upsert(*, product_id: int, shop_ids: list[int], stock: int | None, price_fen: int | None) -> int:
    """One statement: every active SKU of the product on every shop in `shop_ids` (set-based, no row in Python).
    Shops that already carry a SKU keep their stock unless `stock` is given and their price unless `price_fen`
    is. Returns the number of shop SKUs written."""
    with connection.cursor() as cursor:
        cursor.execute(
            _PUSH_UPSERT,
            {
                "product_id": product_id,
                "shop_ids": list(shop_ids),
                "stock": stock,
                "price_fen": price_fen,
                "set_price": price_fen is not None,
            },
        )
        return cursor.rowcount


@transaction.atomic
def product_push_to_shops(
    *, product: Product, shop_ids: list[int], stock: int | None = None, price_fen: int | None = None
) -> int:
    """HQ puts every active SKU of `product` on many shops' shelves at once (optionally with a stock and a price
    override for all), in one transaction. Shops that already carry a SKU keep their stock unless `stock` is
    given. Returns the number of shop SKUs written. For every shop of a big brand, see `shop_push_start`."""
    found = set(Shop.objects.filter(pk__in=shop_ids).values_list("pk", flat=True))
    missing = set(shop_ids) - found
    if missing:
        raise NotFound(_("No such shop."), fields={"shop_ids": sorted(missing)})
    return shop_skus_upsert(product_id=product.pk, shop_ids=sorted(found), stock=stock, price_fen=price_fen)
