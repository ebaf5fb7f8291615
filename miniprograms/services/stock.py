"""Stock moves: each one a single conditional UPDATE, so concurrent buyers can never take more than there is."""

from __future__ import annotations

from django.db.models import F

from miniprograms.models import ShopSku


def stock_take(*, shop_sku_id: int, quantity: int) -> bool:
    """UPDATE shopsku SET stock = stock - n WHERE id = .. AND stock >= n AND on_sale. False: not enough."""
    return (
        ShopSku.objects.filter(pk=shop_sku_id, stock__gte=quantity, on_sale=True).update(stock=F("stock") - quantity)
        == 1
    )


def stock_put_back(*, shop_sku_id: int, quantity: int) -> None:
    ShopSku.objects.filter(pk=shop_sku_id).update(stock=F("stock") + quantity)


RESERVE_SQL = 'UPDATE "miniprograms_shopsku" SET "stock" = "stock" - %s WHERE "id" = %s AND "stock" >= %s AND "on_sale"'
