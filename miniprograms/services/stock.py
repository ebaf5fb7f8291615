"""Stock moves: each one a single conditional UPDATE, so concurrent buyers can never take more than there is."""

from __future__ import annotations

from django.db import connection
from django.db.models import F

from miniprograms.models import ShopSku

RESERVE_SQL = 'UPDATE "miniprograms_shopsku" SET "stock" = "stock" - %s WHERE "id" = %s AND "stock" >= %s AND "on_sale"'


def stock_take(*, shop_sku_id: int, quantity: int) -> bool:
    """UPDATE shopsku SET stock = stock - n WHERE id = .. AND stock >= n AND on_sale. False: not enough. The
    statement is written out (RESERVE_SQL): a flash sale's winners each run it, and it needs no ORM compile."""
    with connection.cursor() as cursor:
        cursor.execute(RESERVE_SQL, [quantity, shop_sku_id, quantity])
        return cursor.rowcount == 1


def stock_put_back(*, shop_sku_id: int, quantity: int) -> None:
    ShopSku.objects.filter(pk=shop_sku_id).update(stock=F("stock") + quantity)
