"""What miniprograms tells the apps above it (livestream, rights_market) without importing them. They subscribe
in their `AppConfig.ready()`.

- Order placed: `hook(order)` runs inside `order_place`'s transaction, after the order and its lines are saved
  (e.g. livestream records that the order came from a live room, with the sharer). A hook that raises rolls the
  order back, so hooks only write their own rows and keep to the database.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from miniprograms.models import Order

OrderHook = Callable[["Order"], object]

_on_order_placed: list[OrderHook] = []


def order_placed_subscribe(hook: OrderHook) -> None:
    if hook not in _on_order_placed:
        _on_order_placed.append(hook)


def order_placed_notify(order: "Order") -> None:
    for hook in _on_order_placed:
        hook(order)
