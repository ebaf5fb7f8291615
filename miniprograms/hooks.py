"""What miniprograms tells the apps above it without importing them. They subscribe in their `AppConfig.ready()`.

- Coupon used / given back (the rights market follows the coupons its vouchers became): `listener(coupon, used,
  at)` runs inside the transaction that changed the coupon (used=True when it was taken at checkout or at a
  store's POS, False when an order gave it back). Listeners must be idempotent: a coupon can be used, given back
  and used again.
- Order placed (livestream records that the order came from a live room, with the sharer): `hook(order)` runs
  inside `order_place`'s transaction, after the order and its lines are saved. A hook that raises rolls the order
  back, so hooks only write their own rows and keep to the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from miniprograms.models import Coupon, Order

CouponListener = Callable[["Coupon", bool, dt.datetime], object]
OrderHook = Callable[["Order"], object]

_coupon_listeners: list[CouponListener] = []
_on_order_placed: list[OrderHook] = []


def coupon_changed_subscribe(listener: CouponListener) -> None:
    if listener not in _coupon_listeners:
        _coupon_listeners.append(listener)


def coupon_changed_notify(coupon: Coupon, *, used: bool, at: dt.datetime) -> None:
    for listener in _coupon_listeners:
        listener(coupon, used, at)


def order_placed_subscribe(hook: OrderHook) -> None:
    if hook not in _on_order_placed:
        _on_order_placed.append(hook)


def order_placed_notify(order: Order) -> None:
    for hook in _on_order_placed:
        hook(order)
