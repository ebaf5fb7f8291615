"""Orders: placing one from a cart (price and discount snapshot, stock reserved by conditional UPDATE), cancelling
(stock and coupon given back), the periodic cancellation of unpaid orders, and fulfilment statuses."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound
from core.sql_writes import insert_with_children
from members.models import Member, Store
from miniprograms import hooks
from miniprograms.models import Coupon, Order, OrderEvent, OrderLine, Shop
from miniprograms.selectors import guide_attributed, shop_cart_entries
from miniprograms.services.coupons import coupon_discount, coupon_return, coupon_use
from miniprograms.services.stock import stock_put_back, stock_take

logger = logging.getLogger(__name__)

MAX_LINES = 50
MAX_QUANTITY = 99


def order_number_new() -> str:
    """22 characters, time-ordered, unguessable tail; also WeChat Pay's out_trade_no (at most 32)."""
    return f"{timezone.now():%y%m%d%H%M%S}{secrets.randbelow(10**10):010d}"


def order_event_add(*, order: Order, status: str, note: str = "") -> OrderEvent:
    event = OrderEvent(order=order, status=status, note=note)
    event.save()
    return event


def _cart(items: list[dict]) -> dict[int, int]:
    if not items:
        raise ApplicationError(_("The cart is empty."), fields={"items": ["required"]})
    cart: dict[int, int] = {}
    for item in items:
        cart[int(item["sku_id"])] = cart.get(int(item["sku_id"]), 0) + int(item["quantity"])
    if len(cart) > MAX_LINES or any(q < 1 or q > MAX_QUANTITY for q in cart.values()):
        raise ApplicationError(
            _("At most %(max_lines)s lines of 1 to %(max_quantity)s each."),
            params={"max_lines": MAX_LINES, "max_quantity": MAX_QUANTITY},
            fields={"items": ["out of range"]},
        )
    return cart


def order_place(
    *,
    member: Member,
    shop: Shop,
    items: list[dict],
    appid: str = "",
    coupon_id: int | None = None,
    fulfilment: str = Order.Fulfilment.PICKUP,
    delivery_address: dict | None = None,
) -> Order:
    """Place an order for `items` ([{sku_id, quantity}]) in `shop` at that shop's prices now, with the coupon's
    discount. Stock is reserved here (409 out_of_stock if any line lacks it; nothing is reserved then) and held
    until payment or until the order is cancelled (unpaid orders after MINIPROGRAMS_UNPAID_ORDER_MINUTES).

    The cart is read and checked before any transaction opens: a line already short of stock is refused there
    (409 out_of_stock) with one read, which is what most buyers of a flash sale get. The conditional UPDATE in
    the transaction stays the only guard against overselling."""
    if member.status != Member.Status.ACTIVE:
        raise ApplicationError(_("This membership is disabled."), code="member_disabled", status_code=403)
    if not shop.is_open or shop.store.status != Store.Status.OPEN:
        raise Conflict(_("This shop is closed."), code="shop_closed")
    if fulfilment not in (Order.Fulfilment.PICKUP, Order.Fulfilment.DELIVERY):
        raise ApplicationError(_("Choose pick-up or delivery."), fields={"fulfilment": ["invalid"]})
    if fulfilment == Order.Fulfilment.DELIVERY and not delivery_address:
        raise ApplicationError(_("A delivery needs an address."), fields={"delivery_address": ["required"]})
    cart = _cart(items)
    entries = shop_cart_entries(shop_id=shop.pk, sku_ids=cart)  # one statement, no ORM compile
    missing = sorted(set(cart) - set(entries))
    if missing:
        raise NotFound(_("Not sold in this shop."), code="sku_not_in_shop", fields={"items": missing})

    lines = [
        {
            "entry": entries[sku_id],
            "product_id": entries[sku_id].sku.product_id,
            "quantity": qty,
            "unit": entries[sku_id].effective_price_fen,
            "total_fen": entries[sku_id].effective_price_fen * qty,
        }
        for sku_id, qty in sorted(cart.items())
    ]
    discounts = [0] * len(lines)
    coupon = None
    if coupon_id is not None:
        coupon = Coupon.objects.select_related("template").filter(pk=coupon_id, member=member).first()
        if coupon is None:
            raise NotFound(_("No such coupon."), code="coupon_not_found")
        discounts = coupon_discount(coupon=coupon, shop_id=shop.pk, lines=lines)
    for line in lines:  # short already when read: no transaction, no lock (sold out stays sold out)
        if line["entry"].stock < line["quantity"]:
            raise Conflict(_("Not enough stock."), code="out_of_stock", fields={"items": [line["entry"].sku_id]})
    now = timezone.now()
    guide = guide_attributed(member=member, at=now)  # a read: before the transaction, which it would lengthen
    with transaction.atomic():
        return _order_write(
            now=now,
            guide=guide,
            member=member,
            shop=shop,
            lines=lines,
            discounts=discounts,
            coupon=coupon,
            appid=appid,
            fulfilment=fulfilment,
            delivery_address=delivery_address,
        )


def _order_write(*, now, guide, member, shop, lines, discounts, coupon, appid, fulfilment, delivery_address) -> Order:
    """order_place's writes, in its transaction: the order, its lines and first event, then stock.

    Without a coupon the stock is taken last, right before the commit: the conditional UPDATE locks the SKU's row
    until the transaction ends, and in a flash sale every buyer queues on that one row, so it is held for that
    UPDATE and the COMMIT only, not for the inserts (and the order-placed hooks) too. Short stock raises Conflict
    and the transaction undoes what was written. With a coupon, stock and coupon are taken first, as before: the
    coupon's row lock decides between concurrent orders using it before their INSERTs meet the order's
    one-live-order-per-coupon constraint (which would fail as an IntegrityError, not a 409).
    Lock order: ShopSku rows in ascending id, then the coupon."""
    if coupon is not None:
        _reserve(member=member, lines=lines, coupon=coupon)
    subtotal = sum(ln["total_fen"] for ln in lines)
    discount = sum(discounts)
    order = Order(
        number=order_number_new(),
        channel=Order.Channel.ONLINE,
        shop=shop,
        store=shop.store,
        member=member,
        guide=guide,
        coupon=coupon,
        appid=appid,
        subtotal_fen=subtotal,
        discount_fen=discount,
        total_fen=subtotal - discount,
        fulfilment=fulfilment,
        delivery_address=delivery_address or {},
        created_at=now,
        expires_at=now + timedelta(minutes=settings.MINIPROGRAMS_UNPAID_ORDER_MINUTES),
    )
    # the foreign keys are rows just read and the number is unique in the database (a clash fails the INSERT):
    # no look-up query for each
    order.full_clean(
        exclude=["shop", "store", "member", "guide", "coupon"], validate_unique=False, validate_constraints=False
    )
    created = [
        OrderLine(
            order=order,
            sku=ln["entry"].sku,
            shop_sku=ln["entry"],
            product_name=ln["entry"].sku.product.name,
            sku_code=ln["entry"].sku.code,
            attributes=ln["entry"].sku.attributes,
            unit_price_fen=ln["unit"],
            quantity=ln["quantity"],
            discount_fen=d,
            total_fen=ln["total_fen"] - d,
        )
        for ln, d in zip(lines, discounts, strict=True)
    ]
    placed = OrderEvent(order=order, status="placed", note="")
    # the order, its lines and its first event in one statement
    insert_with_children(order, [*((line, "order") for line in created), (placed, "order")])
    created.sort(key=lambda line: line.pk)  # as they read back
    hooks.order_placed_notify(order)  # e.g. livestream's attribution to a live room
    if coupon is None:
        _reserve(member=member, lines=lines, coupon=None)
    _as_read_back(order, lines=created, events=[placed])
    return order


def _reserve(*, member, lines, coupon) -> None:
    """Take each line's stock (ShopSku rows in ascending id), then the coupon; Conflict if either is short."""
    for line in sorted(lines, key=lambda ln: ln["entry"].pk):
        if not stock_take(shop_sku_id=line["entry"].pk, quantity=line["quantity"]):
            raise Conflict(_("Not enough stock."), code="out_of_stock", fields={"items": [line["entry"].sku_id]})
    if coupon is not None:
        coupon_use(coupon_id=coupon.pk, member=member)


def _as_read_back(order: Order, *, lines: list[OrderLine], events: list[OrderEvent]) -> None:
    """Attach what was just written (lines in id order, the first event, no refunds) as the order's prefetched
    relations, as the member's order selector would read them back: the caller can render the new order without
    a second round of queries."""
    for name, rows in (("lines", lines), ("events", events), ("refunds", [])):
        rows_qs = getattr(order, name).all()
        rows_qs._result_cache, rows_qs._prefetch_done = list(rows), True
        order._prefetched_objects_cache = getattr(order, "_prefetched_objects_cache", {})
        order._prefetched_objects_cache[name] = rows_qs


def _release(order: Order) -> None:
    for line in sorted(order.lines.all(), key=lambda ln: ln.shop_sku_id or 0):
        if line.shop_sku_id:
            stock_put_back(shop_sku_id=line.shop_sku_id, quantity=line.quantity)
    if order.coupon_id:
        coupon_return(coupon_id=order.coupon_id)


@transaction.atomic
def order_cancel(*, order_id: int, reason: str, member: Member | None = None) -> Order:
    """Cancel an unpaid order: stock and coupon go back. A member may cancel only their own order."""
    qs = Order.objects.select_for_update()
    if member is not None:
        qs = qs.filter(member=member)
    order = qs.filter(pk=order_id).first()
    if order is None:
        raise NotFound(_("No such order."))
    if order.status != Order.Status.PENDING_PAYMENT:
        raise Conflict(_("Only an unpaid order can be cancelled."), code="order_not_cancellable")
    _release(order)
    order.status = Order.Status.CANCELLED
    order.cancelled_at = timezone.now()
    order.save(update_fields=["status", "cancelled_at"])
    order_event_add(order=order, status="cancelled", note=reason[:200])
    if order.prepay_id:  # WeChat could still take the money: close the WeChat order (after commit, retried)
        from celery import current_app

        from core.tasks import enqueue

        enqueue(current_app.tasks["miniprograms.order_close_at_gateway"], order.pk)  # by name: tasks import us
    return order


# --- fulfilment ------------------------------------------------------------------------------------------------

_NEXT = {
    Order.Fulfilment.PICKUP: {
        Order.FulfilmentStatus.PREPARING: {Order.FulfilmentStatus.READY_FOR_PICKUP},
        Order.FulfilmentStatus.READY_FOR_PICKUP: {Order.FulfilmentStatus.PICKED_UP},
    },
    Order.Fulfilment.DELIVERY: {
        Order.FulfilmentStatus.PREPARING: {Order.FulfilmentStatus.SHIPPED},
        Order.FulfilmentStatus.SHIPPED: {Order.FulfilmentStatus.DELIVERED},
    },
}


def order_fulfilment_next(*, order: Order) -> list[str]:
    """The fulfilment steps `order_fulfilment_advance` would accept next (none unless the order is paid)."""
    if order.status != Order.Status.PAID:
        return []
    return sorted(_NEXT.get(order.fulfilment, {}).get(order.fulfilment_status, set()))


@transaction.atomic
def order_fulfilment_advance(*, order: Order, to_status: str, note: str = "") -> Order:
    """Move a paid order along pick-up (preparing -> ready_for_pickup -> picked_up) or delivery (preparing ->
    shipped -> delivered). Each step is an event the member sees."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != Order.Status.PAID:
        raise Conflict(_("Only a paid order is fulfilled."), code="order_not_paid")
    allowed = _NEXT.get(order.fulfilment, {}).get(order.fulfilment_status, set())
    if to_status not in allowed:
        raise Conflict(
            _("Cannot go from %(fulfilment_status)s to %(to_status)s."),
            params={"fulfilment_status": order.fulfilment_status, "to_status": to_status},
            code="bad_transition",
            fields={"status": [f"allowed: {sorted(allowed)}"]},
        )
    order.fulfilment_status = to_status
    order.save(update_fields=["fulfilment_status"])
    order_event_add(order=order, status=to_status, note=note)
    return order
