"""Paying an order: the prepay for wx.requestPayment, and marking an order paid from a verified notification (or
from a query when the notification was lost) exactly once, with points and guide commission once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from members.models import Member
from miniprograms.models import Order, OrderEvent
from miniprograms.payments import (
    InvalidNotification,
    gateway_for,
    gateway_for_order,
    payment_route_for,
)
from miniprograms.selectors import order_lock_by_number
from miniprograms.services.guides import commission_credit_for_order
from miniprograms.services.loyalty import points_for_paid_order
from miniprograms.services.orders import order_cancel, order_event_add
from tenants.models import WeChatApp

logger = logging.getLogger(__name__)


def order_prepay(*, member: Member, order: Order, openid: str, client_ip: str = "") -> dict:
    """Create (or re-create) the WeChat Pay prepay of the member's unpaid order and return the signed
    parameters for wx.requestPayment. The WeChat call happens outside any transaction."""
    if order.member_id != member.pk:
        raise ApplicationError(_("No such order."), code="not_found", status_code=404)
    if order.status != Order.Status.PENDING_PAYMENT or order.expires_at <= timezone.now() + PREPAY_MIN_LEFT:
        raise Conflict(_("This order cannot be paid any more."), code="order_not_payable")
    # WeChat refuses the payment after time_expire: an order cancelled for not being paid is never paid later.
    order = order_payment_route_stamp(order=order)
    result = gateway_for_order(order).create_prepay(
        out_trade_no=order.number,
        total_fen=order.total_fen,
        description=f"{order.store.name} {order.number}",
        openid=openid,
        client_ip=client_ip,
        time_expire=order.expires_at,
    )
    Order.objects.filter(pk=order.pk).update(prepay_id=result.prepay_id)
    return result.request_payment


PREPAY_MIN_LEFT = timedelta(minutes=1)  # WeChat wants time_expire at least a minute away


def order_payment_route_stamp(*, order: Order) -> Order:
    """Fix which gateway and merchant the order pays through, at its first prepay and never again: a conditional
    UPDATE, so two concurrent first prepays agree on the winner's. Later prepays, queries, closes, refunds and
    notifications use it even after the brand moves from v2 to v3 or a franchisee's sub-merchant changes."""
    if not order.pay_gateway:
        api, mchid = payment_route_for(order)
        Order.objects.filter(pk=order.pk, pay_gateway="").update(pay_gateway=api, pay_mchid=mchid)
        order.refresh_from_db(fields=["pay_gateway", "pay_mchid"])
    return order


PAID = "paid"
DUPLICATE = "duplicate"
REJECTED = "rejected"
REFUNDING = "refunding"  # paid after the order was cancelled: the money goes back automatically


@transaction.atomic
def order_mark_paid(
    *, out_trade_no: str, transaction_id: str, total_fen: int, paid_at: datetime | None, appid: str
) -> str:
    """Mark the order paid once. Locks the order; a second call (duplicate notification) changes nothing and
    returns "duplicate"; an amount other than the order's total, another app's order, or an order no longer
    awaiting payment changes nothing and returns "rejected". On "paid": points earned and guide commission
    credited, in the same transaction.

    A real payment (the order's amount) for a cancelled order is refunded automatically: the order stays
    cancelled, records the transaction and an event saying why, and an automatic Refund is sent to WeChat after
    commit (returns "refunding"; the same payment again is "duplicate")."""
    order = order_lock_by_number(out_trade_no)
    if order is None or (order.appid and order.appid != appid):
        logger.warning("pay notification for unknown order %s", out_trade_no)
        return REJECTED
    if order.status != Order.Status.PENDING_PAYMENT:
        if order.transaction_id and order.transaction_id == transaction_id:
            return DUPLICATE
        if order.status == Order.Status.CANCELLED and not order.transaction_id and int(total_fen) == order.total_fen:
            _refund_paid_after_cancel(order=order, transaction_id=transaction_id, paid_at=paid_at)
            return REFUNDING
        logger.error(
            "order %s: payment %s reported while %s; needs a manual refund", order.number, transaction_id, order.status
        )
        return REJECTED
    if int(total_fen) != order.total_fen:
        logger.error("order %s: notified amount %s != total %s; ignored", order.number, total_fen, order.total_fen)
        return REJECTED
    order.status = Order.Status.PAID
    order.paid_at = paid_at or timezone.now()
    order.transaction_id = transaction_id
    order.fulfilment_status = Order.FulfilmentStatus.PREPARING
    _paid_write(order)
    points_for_paid_order(order=order)
    commission_credit_for_order(order=order)
    return PAID


# The order's move to paid and its "paid" event, in one statement (what order.save(update_fields=[status, paid_at,
# transaction_id, fulfilment_status]) and order_event_add(status="paid") write). The order is locked and was read
# awaiting payment in this transaction; the UPDATE repeats that condition all the same.
_PAID_WRITE = f"""
WITH p AS (
    UPDATE "{Order._meta.db_table}" SET "status" = %s, "paid_at" = %s, "transaction_id" = %s, "fulfilment_status" = %s
    WHERE "id" = %s AND "status" = %s RETURNING "id"
)
INSERT INTO "{OrderEvent._meta.db_table}" ("order_id", "status", "note", "created_at")
SELECT "id", 'paid', '', %s FROM p RETURNING "id"
"""


def _paid_write(order: Order) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _PAID_WRITE,
            [
                order.status,
                order.paid_at,
                order.transaction_id,
                order.fulfilment_status,
                order.pk,
                Order.Status.PENDING_PAYMENT,
                timezone.now(),
            ],
        )
        if cursor.fetchone() is None:  # pragma: no cover - the row is locked and was read awaiting payment
            raise RuntimeError(f"order {order.pk} was not awaiting payment under its lock")


def _refund_paid_after_cancel(*, order: Order, transaction_id: str, paid_at: datetime | None) -> None:
    from celery import current_app

    from core.tasks import enqueue
    from miniprograms.models import Refund
    from miniprograms.services.orders import order_number_new

    order.transaction_id = transaction_id
    order.paid_at = paid_at or timezone.now()
    order.save(update_fields=["transaction_id", "paid_at"])
    why = (
        f"paid ({transaction_id}) after the order was cancelled at "
        f"{timezone.localtime(order.cancelled_at):%Y-%m-%d %H:%M:%S}; refunded automatically"
    )
    refund = Refund(
        order=order,
        kind=Refund.Kind.PAID_AFTER_CANCEL,
        number="R" + order_number_new(),
        amount_fen=order.total_fen,
        reason=why[:200],
    )
    refund.full_clean(validate_constraints=False)
    refund.save()
    order_event_add(order=order, status="paid_after_cancel", note=why[:200])
    logger.warning("order %s: %s", order.number, why)
    enqueue(current_app.tasks["miniprograms.refund_send"], refund.pk)  # by name: miniprograms.tasks imports us


def order_mark_paid_from_notification(*, data: dict) -> str:
    """The WeChat Pay v2 notification handler (the parsed XML as a dict). Verifies the signature with the
    merchant's sign type in constant time, the appid and mch_id and the time; a forged, stale or mismatched
    notification changes nothing and returns "rejected"."""
    appid = str(data.get("appid", "")) if isinstance(data, dict) else ""
    try:
        notification = gateway_for(appid, api=WeChatApp.PayApi.V2).verify_notification(data)
    except (InvalidNotification, ApplicationError) as exc:
        logger.warning("pay notification refused: %s", exc)
        return REJECTED
    return order_mark_paid(
        out_trade_no=notification.out_trade_no,
        transaction_id=notification.transaction_id,
        total_fen=notification.total_fen,
        paid_at=notification.paid_at,
        appid=notification.appid,
    )


def order_paid_at_gateway(*, order: Order) -> bool:
    """Ask WeChat Pay whether the order was paid; if so mark it paid (once). True if it is paid now."""
    result = gateway_for_order(order).query(out_trade_no=order.number)
    if not result.paid or result.total_fen is None:
        return False
    return order_mark_paid(
        out_trade_no=order.number,
        transaction_id=result.transaction_id,
        total_fen=result.total_fen,
        paid_at=None,
        appid=order.appid,
    ) in (PAID, DUPLICATE)


def order_mark_paid_from_v3_notification(*, appid: str, resource: dict) -> str:
    """A WeChat Pay v3 TRANSACTION.SUCCESS resource (signature checked and decrypted by the callbacks app). The
    order must be a v3 order of this mini-program paying into the sub-merchant the resource names; then the same
    `order_mark_paid` as v2. Anything else changes nothing and returns "rejected"."""
    number = str(resource.get("out_trade_no") or "") if isinstance(resource, dict) else ""
    order = Order.objects.filter(number=number).first() if number else None
    if order is None or order.appid != appid or order.pay_gateway != WeChatApp.PayApi.V3:
        logger.warning("v3 pay notification for unknown or non-v3 order %s", number)
        return REJECTED
    try:
        notification = gateway_for_order(order).verify_notification(resource)
    except (InvalidNotification, ApplicationError) as exc:
        logger.warning("v3 pay notification refused: %s", exc)
        return REJECTED
    return order_mark_paid(
        out_trade_no=notification.out_trade_no,
        transaction_id=notification.transaction_id,
        total_fen=notification.total_fen,
        paid_at=notification.paid_at,
        appid=notification.appid,
    )


def orders_cancel_expired(*, now=None, limit: int = 500) -> int:
    """The periodic job: cancel unpaid orders past their expiry, one transaction each. An order that has a prepay
    is first looked up at WeChat Pay: if it was paid after all, it is marked paid instead (a late or lost
    notification); if WeChat cannot be reached it is left for the next run."""
    now = now or timezone.now()
    ids = list(
        Order.objects.filter(status=Order.Status.PENDING_PAYMENT, expires_at__lt=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    cancelled = 0
    for order_id in ids:
        order = Order.objects.get(pk=order_id)
        if order.prepay_id:
            try:
                if order_paid_at_gateway(order=order):
                    continue
            except ApplicationError:
                logger.warning("order %s: WeChat Pay query failed; cancellation postponed", order.number)
                continue
        try:
            order_cancel(order_id=order_id, reason="not paid in time")
            cancelled += 1
        except Conflict:
            pass  # paid or cancelled meanwhile
    return cancelled


def order_gateway_close(*, order_id: int) -> str:
    """Close a cancelled order's WeChat order so that it can no longer be paid. Returns "closed", "paid" (it was
    paid before the close reached WeChat: marked paid-after-cancel, which refunds it) or "skipped" (not cancelled,
    or never prepaid). WeChat unreachable raises PaymentUnavailable (the task retries). No lock is held here."""
    from miniprograms.payments import OrderPaidAtGateway

    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.status != Order.Status.CANCELLED or not order.prepay_id:
        return "skipped"
    try:
        gateway_for_order(order).close(out_trade_no=order.number)
    except OrderPaidAtGateway:
        order_paid_at_gateway(order=order)
        return "paid"
    order_event_add(order=order, status="closed_at_gateway")
    return "closed"
