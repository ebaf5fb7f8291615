"""What miniprograms tells the apps above it. miniprograms never imports them; they subscribe in their
`AppConfig.ready()` (the rights market does, to follow the coupons its vouchers became).

- Coupon used / given back: `listener(coupon, used, at)` runs inside the transaction that changed the coupon
  (used=True when it was taken at checkout or at a store's POS, False when an order gave it back). Listeners
  must be idempotent: a coupon can be used, given back and used again.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from miniprograms.models import Coupon

CouponListener = Callable[["Coupon", bool, dt.datetime], object]

_coupon_listeners: list[CouponListener] = []


def coupon_changed_subscribe(listener: CouponListener) -> None:
    if listener not in _coupon_listeners:
        _coupon_listeners.append(listener)


def coupon_changed_notify(coupon: Coupon, *, used: bool, at: dt.datetime) -> None:
    for listener in _coupon_listeners:
        listener(coupon, used, at)
