"""Refunds of a whole paid order: the member asks, staff approve (WeChat Pay refund API) or reject. An approved
refund reverses the order's points and guide commission, gives the coupon back and, if the goods never left the
store, puts the stock back."""
from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict, NotFound
from members.models import Member
from miniprograms.models import Order, Refund
from miniprograms.payments import gateway_for_order
from miniprograms.services.coupons import coupon_return
from miniprograms.services.guides import commission_reverse_for_order
from miniprograms.services.loyalty import points_reverse_for_order
from miniprograms.services.orders import order_event_add, order_number_new
from miniprograms.services.stock import stock_put_back

logger = logging.getLogger(__name__)

_GOODS_GONE = {Order.FulfilmentStatus.PICKED_UP, Order.FulfilmentStatus.SHIPPED, Order.FulfilmentStatus.DELIVERED}


@transaction.atomic
def refund_request(*, member: Member, order_id: int, reason: str = "") -> Refund:
    order = Order.objects.select_for_update().filter(pk=order_id, member=member).first()
    if order is None:
        raise NotFound(_("No such order."))
    if order.status != Order.Status.PAID or order.channel != Order.Channel.ONLINE:
        raise Conflict(_("Only a paid online order can be refunded."), code="order_not_refundable")
    refund = Refund(order=order, number="R" + order_number_new(), amount_fen=order.total_fen, reason=reason)
    refund.full_clean(validate_constraints=False)
    refund.save()
    order.status = Order.Status.REFUNDING
    order.save(update_fields=["status"])
    order_event_add(order=order, status="refund_requested", note=reason[:200])
    return refund


def _lock(refund: Refund) -> tuple[Order, Refund]:
    order = Order.objects.select_for_update(of=("self",)).select_related("member", "store").get(pk=refund.order_id)
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.status != Refund.Status.REQUESTED:
        raise Conflict(_("This refund was already decided."), code="refund_decided")
    if refund.kind != Refund.Kind.REQUESTED:
        raise Conflict(_("This refund is automatic; staff do not decide it."), code="refund_automatic")
    return order, refund


@transaction.atomic
def refund_approve(*, refund: Refund, actor_id: int) -> Refund:
    """Send the refund to WeChat Pay (idempotent there by out_refund_no; a failure leaves the refund requested so
    it can be approved again) and apply its effects once."""
    order, refund = _lock(refund)
    result = gateway_for_order(order).refund(out_trade_no=order.number, out_refund_no=refund.number,
                                           total_fen=order.total_fen, refund_fen=refund.amount_fen,
                                           reason=refund.reason)
    refund.status = Refund.Status.SUCCEEDED
    refund.wechat_refund_id = result.refund_id
    refund.decided_by_id = actor_id
    refund.decided_at = timezone.now()
    refund.save(update_fields=["status", "wechat_refund_id", "decided_by_id", "decided_at"])
    if order.fulfilment_status not in _GOODS_GONE:
        for line in sorted(order.lines.all(), key=lambda ln: ln.shop_sku_id or 0):
            if line.shop_sku_id:
                stock_put_back(shop_sku_id=line.shop_sku_id, quantity=line.quantity)
    if order.coupon_id:
        coupon_return(coupon_id=order.coupon_id)
    commission_reverse_for_order(order=order)
    points_reverse_for_order(order=order)
    order.status = Order.Status.REFUNDED
    order.save(update_fields=["status"])
    order_event_add(order=order, status="refunded")
    return refund


@transaction.atomic
def refund_reject(*, refund: Refund, actor_id: int, note: str = "") -> Refund:
    order, refund = _lock(refund)
    refund.status = Refund.Status.REJECTED
    refund.decided_by_id = actor_id
    refund.decided_at = timezone.now()
    refund.save(update_fields=["status", "decided_by_id", "decided_at"])
    order.status = Order.Status.PAID
    order.save(update_fields=["status"])
    order_event_add(order=order, status="refund_rejected", note=note[:200])
    return refund


CONFIRMED = "confirmed"
FAILED_AT_WECHAT = "failed"
REJECTED = "rejected"


@transaction.atomic
def refund_outcome_from_v3_notification(*, appid: str, resource: dict) -> str:
    """Record what WeChat Pay v3 says became of a refund (its resource, verified and decrypted on receipt).
    REFUND.SUCCESS confirms it (the WeChat refund id is kept); ABNORMAL or CLOSED is logged as an error and noted on
    the order for a person to settle (the money did not leave). A refund of another mini-program, sub-merchant or
    amount, or an unknown one, changes nothing and returns "rejected"."""
    from tenants.models import WeChatApp

    number = str(resource.get("out_refund_no") or "") if isinstance(resource, dict) else ""
    refund = Refund.objects.select_for_update().select_related("order").filter(number=number).first()
    if refund is None:
        return REJECTED
    order = refund.order
    amount = resource.get("amount") or {}
    if (order.appid != appid or order.pay_gateway != WeChatApp.PayApi.V3 or order.pay_mchid != resource.get("sub_mchid")
            or order.number != resource.get("out_trade_no") or amount.get("refund") != refund.amount_fen):
        return REJECTED
    status = resource.get("refund_status")
    if status == "SUCCESS":
        if refund.wechat_refund_id != resource.get("refund_id", ""):
            refund.wechat_refund_id = str(resource.get("refund_id", ""))[:64]
            refund.save(update_fields=["wechat_refund_id"])
        order_event_add(order=order, status="refund_confirmed", note=refund.number)
        return CONFIRMED
    logger.error("refund %s of order %s: WeChat Pay reports %s", refund.number, order.number, status)
    order_event_add(order=order, status="refund_failed_at_wechat", note=f"{refund.number} {status}"[:200])
    return FAILED_AT_WECHAT


def refund_automatic_send(*, refund_id: int) -> str:
    """Send an automatic refund (money paid for a cancelled order) to WeChat Pay and record the result. The call
    is keyed by the refund number at WeChat, made outside any transaction; an unreachable WeChat raises
    PaymentUnavailable and the task retries. Returns "succeeded" or "skipped" (already sent)."""
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status != Refund.Status.REQUESTED or refund.kind == Refund.Kind.REQUESTED:
        return "skipped"
    order = refund.order
    result = gateway_for_order(order).refund(out_trade_no=order.number, out_refund_no=refund.number,
                                                 total_fen=order.total_fen, refund_fen=refund.amount_fen,
                                                 reason="order cancelled before payment")
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.REQUESTED:
            return "skipped"
        refund.status = Refund.Status.SUCCEEDED
        refund.wechat_refund_id = result.refund_id
        refund.decided_at = timezone.now()
        refund.save(update_fields=["status", "wechat_refund_id", "decided_at"])
        order_event_add(order=order, status="refunded", note="automatic refund of a payment after cancellation")
    return "succeeded"
