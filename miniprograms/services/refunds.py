"""Refunds of a paid order: the whole of it, some lines and quantities, or an amount; each its own Refund with its
own out_refund_no. The member asks (optionally returning the goods); staff approve or reject. The money goes back
through WeChat Pay's refund API after the database transaction commits, never while a row is locked; a WeChat
failure leaves the refund `failed`, and approving it again sends the same out_refund_no (WeChat refunds it once).

On success, once per refund: the points go back in proportion to the amount, the guide's commission at each
refunded line's own rate (an amount-only refund: in proportion), the refunded quantities go back on the shelf when
the goods never left the store (or came back), and the coupon (its discount spread over the lines' prices) is
given back once every paid line is refunded, while it is still valid. The sum of an order's refunds never exceeds what was paid:
Order.refunded_fen (requests not rejected) moves by one conditional UPDATE, under a database CHECK.

Lock order: the order, then its refunds, then order lines, then shelf stock (as order placement)."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound
from members.models import Member
from miniprograms.models import Order, OrderLine, Refund, RefundLine
from miniprograms.payments import gateway_for_order
from miniprograms.services.coupons import coupon_return
from miniprograms.services.guides import commission_reverse_for_refund
from miniprograms.services.loyalty import points_reverse_for_refund
from miniprograms.services.orders import order_event_add, order_number_new
from miniprograms.services.stock import stock_put_back

logger = logging.getLogger(__name__)

_GOODS_GONE = {Order.FulfilmentStatus.PICKED_UP, Order.FulfilmentStatus.SHIPPED, Order.FulfilmentStatus.DELIVERED}


def _line_share(line: OrderLine, before: int, after: int) -> int:
    """What refunding units before..after of the line is worth: the last unit takes the rounding remainder, so all
    units of a line add up to exactly what was paid for it."""
    return line.total_fen * after // line.quantity - line.total_fen * before // line.quantity


@transaction.atomic
def refund_request(
    *,
    member: Member,
    order_id: int,
    reason: str = "",
    lines: list[dict] | None = None,
    amount_fen: int | None = None,
    return_goods: bool = False,
) -> Refund:
    """Ask for a refund of the member's paid online order: of `lines` ([{line_id, quantity}]; their share of what
    was paid), of `amount_fen`, or (neither) of everything not refunded yet. 409 `refund_exceeds_paid` when the
    order's refunds would add up to more than was paid, `refund_exceeds_quantity` for more units than bought;
    the order turns `refunding` when the request covers what is left of it. Units refunded by line count at their
    share of the line's price after discount (the last unit takes the rounding remainder); after an amount-only
    refund, a line refund that would pass the total is refused like any other.

    No lock is taken before the amount is claimed: one conditional UPDATE of Order.refunded_fen decides between
    concurrent requests (the loser re-reads the winner's row and gets 409), then the lines are claimed."""
    if lines and amount_fen is not None:
        raise ApplicationError(_("Refund lines or an amount, not both."), fields={"amount_fen": ["with lines"]})
    order = Order.objects.filter(pk=order_id, member=member).first()
    if order is None:
        raise NotFound(_("No such order."))
    if order.status != Order.Status.PAID or order.channel != Order.Channel.ONLINE:
        raise Conflict(_("Only a paid online order can be refunded."), code="order_not_refundable")
    by_id = {ln.pk: ln for ln in order.lines.order_by("id")}
    if amount_fen is not None:
        wanted: dict[int, int] = {}
        if amount_fen <= 0:
            raise ApplicationError(_("Refund a positive amount."), fields={"amount_fen": ["must be positive"]})
    elif lines:
        wanted = {}
        for item in lines:
            line_id, quantity = int(item["line_id"]), int(item["quantity"])
            if line_id not in by_id:
                raise NotFound(_("No such line in this order."), code="line_not_found", fields={"lines": [line_id]})
            if quantity <= 0:
                raise ApplicationError(_("Refund at least one unit."), fields={"lines": [line_id]})
            wanted[line_id] = wanted.get(line_id, 0) + quantity
    else:  # everything not refunded yet
        wanted = {
            pk: ln.quantity - ln.refunded_quantity for pk, ln in by_id.items() if ln.quantity > ln.refunded_quantity
        }
    refund_lines = []
    for line_id, quantity in sorted(wanted.items()):
        line = by_id[line_id]
        if line.refunded_quantity + quantity > line.quantity:
            raise Conflict(
                _("More units than were bought."), code="refund_exceeds_quantity", fields={"lines": [line_id]}
            )
        refund_lines.append(
            (line, quantity, _line_share(line, line.refunded_quantity, line.refunded_quantity + quantity))
        )
    if amount_fen is None:
        amount_fen = (
            sum(share for _line, _quantity, share in refund_lines) if lines else order.total_fen - order.refunded_fen
        )
    if amount_fen <= 0 or not Order.objects.filter(
        pk=order.pk, status=Order.Status.PAID, refunded_fen__lte=F("total_fen") - amount_fen
    ).update(refunded_fen=F("refunded_fen") + amount_fen):
        raise Conflict(
            _("The order's refunds would exceed what was paid."),
            code="refund_exceeds_paid",
            fields={"amount_fen": [f"at most {order.total_fen - order.refunded_fen}"]},
        )
    # The order's row is ours now: the lines can only have changed before (a request that got in first).
    for line, quantity, _share in refund_lines:
        if not OrderLine.objects.filter(pk=line.pk, refunded_quantity=line.refunded_quantity).update(
            refunded_quantity=F("refunded_quantity") + quantity
        ):
            raise Conflict(_("The order changed meanwhile; ask again."), code="refund_conflict")
    refund = Refund(
        order=order, number="R" + order_number_new(), amount_fen=amount_fen, reason=reason, return_goods=return_goods
    )
    refund.full_clean(validate_constraints=False)
    refund.save()
    RefundLine.objects.bulk_create(
        [
            RefundLine(refund=refund, order_line=line, quantity=quantity, amount_fen=share)
            for line, quantity, share in refund_lines
        ]
    )
    order.refresh_from_db(fields=["refunded_fen"])
    if order.refunded_fen == order.total_fen:
        order.status = Order.Status.REFUNDING
        order.save(update_fields=["status"])
    order_event_add(
        order=order,
        status="return_requested" if return_goods else "refund_requested",
        note=f"{refund.number} {amount_fen} {reason}"[:200],
    )
    return refund


def refund_after_sales_status(refund: Refund) -> str:
    """The step a member sees: return_requested or refund_requested, approved (also while WeChat is retried),
    goods_received, refunded, rejected, or refund_abnormal (WeChat could not pay it into the member's account; the
    store settles it)."""
    if refund.abnormal_at is not None and refund.abnormal_resolved_at is None:
        return "refund_abnormal"
    if refund.status == Refund.Status.SUCCEEDED:
        return "refunded"
    if refund.status == Refund.Status.REJECTED:
        return "rejected"
    if refund.status == Refund.Status.REQUESTED:
        return "return_requested" if refund.return_goods else "refund_requested"
    return "goods_received" if refund.goods_received_at else "approved"


def _lock(refund: Refund, allowed: set[str]) -> tuple[Order, Refund]:
    order = Order.objects.select_for_update(of=("self",)).select_related("member", "store").get(pk=refund.order_id)
    refund = Refund.objects.select_for_update().get(pk=refund.pk)
    if refund.kind != Refund.Kind.REQUESTED:
        raise Conflict(_("This refund is automatic; staff do not decide it."), code="refund_automatic")
    if refund.status not in allowed:
        raise Conflict(_("This refund was already decided."), code="refund_decided")
    return order, refund


@transaction.atomic
def _approve(*, refund: Refund, actor_id: int) -> Refund:
    order, refund = _lock(refund, {Refund.Status.REQUESTED, Refund.Status.APPROVED, Refund.Status.FAILED})
    if refund.status == Refund.Status.REQUESTED:
        refund.decided_by_id = actor_id
        refund.decided_at = timezone.now()
        order_event_add(order=order, status="refund_approved", note=refund.number)
    refund.status = Refund.Status.APPROVED
    refund.save(update_fields=["status", "decided_by_id", "decided_at"])
    return refund


def refund_approve(*, refund: Refund, actor_id: int) -> Refund:
    """Approve a requested refund, or send a failed one again. A refund without a return of goods goes to WeChat
    Pay at once (after the approval commits); one with a return waits for `refund_goods_received`. A WeChat failure
    is recorded (`failed`, the error kept) and raised (502); approving again retries with the same out_refund_no.
    A refund already succeeded or rejected is 409 `refund_decided`."""
    refund = _approve(refund=refund, actor_id=actor_id)
    if refund.return_goods and refund.goods_received_at is None:
        return refund
    return refund_send(refund_id=refund.pk)


def refund_goods_received(*, refund: Refund, actor_id: int) -> Refund:
    """The store has the returned goods of an approved return: they go back on the shelf with the refund, and the
    money goes back (after commit, as `refund_approve`)."""
    with transaction.atomic():
        order, refund = _lock(refund, {Refund.Status.APPROVED, Refund.Status.FAILED})
        if not refund.return_goods:
            raise Conflict(_("This refund returns no goods."), code="refund_without_return")
        if refund.goods_received_at is None:
            refund.goods_received_at = timezone.now()
            refund.save(update_fields=["goods_received_at"])
            order_event_add(order=order, status="goods_received", note=refund.number)
        refund.status = Refund.Status.APPROVED
        refund.save(update_fields=["status"])
    return refund_send(refund_id=refund.pk)


def refund_send(*, refund_id: int) -> Refund:
    """Send an approved refund to WeChat Pay, outside any transaction, keyed there by its number, then apply it
    once. WeChat failing leaves it `failed` and raises; a refund not `approved` is returned unchanged."""
    refund = Refund.objects.select_related("order").get(pk=refund_id)
    if refund.status != Refund.Status.APPROVED:
        return refund
    order = refund.order
    try:
        result = gateway_for_order(order).refund(
            out_trade_no=order.number,
            out_refund_no=refund.number,
            total_fen=order.total_fen,
            refund_fen=refund.amount_fen,
            reason=refund.reason,
        )
    except ApplicationError as exc:
        with transaction.atomic():
            locked = Refund.objects.select_for_update().get(pk=refund_id)
            if locked.status == Refund.Status.APPROVED:
                locked.status = Refund.Status.FAILED
                locked.last_error = str(exc)[:200]
                locked.save(update_fields=["status", "last_error"])
                order_event_add(order=order, status="refund_failed", note=f"{refund.number} {exc}"[:200])
        logger.warning("refund %s of order %s failed at WeChat Pay: %s", refund.number, order.number, exc)
        raise
    return _refund_apply(refund_id=refund_id, wechat_refund_id=result.refund_id)


def refunds_send_stuck(*, now=None, older_than: timedelta = timedelta(minutes=5), limit: int = 100) -> int:
    """The periodic sweep: send again refunds left `approved` (the process died between the approval's commit and
    WeChat's answer), with their own out_refund_no, so WeChat refunds each once. Returns those now refunded; one
    WeChat still refuses stays `failed` for staff to retry. Returns waiting for their goods are left alone."""
    now = now or timezone.now()
    ids = list(
        Refund.objects.filter(status=Refund.Status.APPROVED, decided_at__lt=now - older_than)
        .exclude(return_goods=True, goods_received_at__isnull=True)
        .order_by("decided_at")
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for refund_id in ids:
        try:
            sent += refund_send(refund_id=refund_id).status == Refund.Status.SUCCEEDED
        except ApplicationError:
            continue  # recorded as failed by refund_send
    return sent


def _every_line_refunded(*, order: Order, refunded_fen: int) -> bool:
    """The coupon's rule, as shops have it: its discount is spread over the lines (each line's price after the
    discount is what a refund of it returns), so the coupon itself comes back only once every paid line is refunded
    (all units, in refunds that succeeded) or all the money is; a partial refund keeps it used."""
    if refunded_fen >= order.total_fen:
        return True
    succeeded: dict[int, int] = {}
    for line_id, quantity in RefundLine.objects.filter(
        refund__order=order, refund__status=Refund.Status.SUCCEEDED
    ).values_list("order_line_id", "quantity"):
        succeeded[line_id] = succeeded.get(line_id, 0) + quantity
    return all(succeeded.get(line.pk, 0) >= line.quantity for line in order.lines.all())


@transaction.atomic
def _refund_apply(*, refund_id: int, wechat_refund_id: str) -> Refund:
    refund = Refund.objects.get(pk=refund_id)
    order, refund = _lock(refund, {Refund.Status.APPROVED, Refund.Status.FAILED})
    before = Refund.objects.filter(order=order, status=Refund.Status.SUCCEEDED).aggregate(n=Sum("amount_fen"))["n"] or 0
    after = before + refund.amount_fen
    refund.status = Refund.Status.SUCCEEDED
    refund.wechat_refund_id = wechat_refund_id
    refund.refunded_at = timezone.now()
    refund.last_error = ""
    refund.save(update_fields=["status", "wechat_refund_id", "refunded_at", "last_error"])
    if order.fulfilment_status not in _GOODS_GONE or refund.goods_received_at is not None:
        for rl in sorted(refund.lines.select_related("order_line"), key=lambda r: r.order_line.shop_sku_id or 0):
            if rl.order_line.shop_sku_id:
                stock_put_back(shop_sku_id=rl.order_line.shop_sku_id, quantity=rl.quantity)
    commission_reverse_for_refund(order=order, refunded_after_fen=after, refund=refund)
    points_reverse_for_refund(
        order=order, refund_number=refund.number, refunded_before_fen=before, refunded_after_fen=after
    )
    if order.coupon_id and _every_line_refunded(order=order, refunded_fen=after):
        returned = coupon_return(coupon_id=order.coupon_id)
        order_event_add(order=order, status="coupon_returned" if returned else "coupon_expired", note=refund.number)
    if after >= order.total_fen:
        order.status = Order.Status.REFUNDED
        order.save(update_fields=["status"])
    order_event_add(order=order, status="refunded", note=f"{refund.number} {refund.amount_fen}")
    return refund


@transaction.atomic
def refund_reject(*, refund: Refund, actor_id: int, note: str = "") -> Refund:
    """Refuse a requested refund: its amount and units become refundable again."""
    order, refund = _lock(refund, {Refund.Status.REQUESTED})
    refund.status = Refund.Status.REJECTED
    refund.decided_by_id = actor_id
    refund.decided_at = timezone.now()
    refund.save(update_fields=["status", "decided_by_id", "decided_at"])
    for rl in refund.lines.order_by("order_line_id"):
        OrderLine.objects.filter(pk=rl.order_line_id).update(refunded_quantity=F("refunded_quantity") - rl.quantity)
    Order.objects.filter(pk=order.pk).update(refunded_fen=F("refunded_fen") - refund.amount_fen)
    if order.status == Order.Status.REFUNDING:
        order.status = Order.Status.PAID
        order.save(update_fields=["status"])
    order_event_add(order=order, status="refund_rejected", note=note[:200])
    return refund


CONFIRMED = "confirmed"
ABNORMAL = "abnormal"
FAILED_AT_WECHAT = "failed"
REJECTED = "rejected"


@transaction.atomic
def refund_outcome_from_v3_notification(*, appid: str, resource: dict) -> str:
    """Record what WeChat Pay v3 says became of a refund (its resource, verified and decrypted on receipt).
    REFUND.SUCCESS confirms it (the WeChat refund id is kept). ABNORMAL (the money could not reach the member's
    account and waits at WeChat) marks the refund abnormal once, for HQ or the store's manager to resolve
    (`refund_abnormal_resolve`); CLOSED is logged as an error and noted on the order for a person to settle. A refund of another mini-program, sub-merchant or
    amount, or an unknown one, changes nothing and returns "rejected"."""
    from tenants.models import WeChatApp

    number = str(resource.get("out_refund_no") or "") if isinstance(resource, dict) else ""
    refund = Refund.objects.select_for_update().select_related("order").filter(number=number).first()
    if refund is None:
        return REJECTED
    order = refund.order
    amount = resource.get("amount") or {}
    if (
        order.appid != appid
        or order.pay_gateway != WeChatApp.PayApi.V3
        or order.pay_mchid != resource.get("sub_mchid")
        or order.number != resource.get("out_trade_no")
        or amount.get("refund") != refund.amount_fen
    ):
        return REJECTED
    status = resource.get("refund_status")
    if resource.get("refund_id") and refund.wechat_refund_id != resource.get("refund_id"):
        refund.wechat_refund_id = str(resource.get("refund_id", ""))[:64]
        refund.save(update_fields=["wechat_refund_id"])
    if status == "SUCCESS":
        order_event_add(order=order, status="refund_confirmed", note=refund.number)
        return CONFIRMED
    if status == "ABNORMAL":
        if refund.abnormal_at is None:
            refund.abnormal_at = timezone.now()
            refund.last_error = f"ABNORMAL {resource.get('user_received_account', '')}"[:200]
            refund.save(update_fields=["abnormal_at", "last_error"])
            order_event_add(order=order, status="refund_abnormal", note=refund.number)
        logger.error("refund %s of order %s: WeChat Pay reports ABNORMAL", refund.number, order.number)
        return ABNORMAL
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
    result = gateway_for_order(order).refund(
        out_trade_no=order.number,
        out_refund_no=refund.number,
        total_fen=order.total_fen,
        refund_fen=refund.amount_fen,
        reason="order cancelled before payment",
    )
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


class AbnormalResolution:
    MERCHANT_BANK_CARD = "merchant_bank_card"  # WeChat sends the money to the merchant's bank account
    OFFLINE = "offline"  # the store paid the member some other way
    CHOICES = (MERCHANT_BANK_CARD, OFFLINE)


@transaction.atomic
def _abnormal_close(*, refund_id: int, actor_id: int, resolution: str, note: str = "") -> Refund:
    refund = Refund.objects.select_for_update().select_related("order").get(pk=refund_id)
    if refund.abnormal_at is None or refund.abnormal_resolved_at is not None:
        raise Conflict(_("This refund is not waiting at WeChat."), code="refund_not_abnormal")
    refund.abnormal_resolved_at, refund.abnormal_resolution, refund.last_error = timezone.now(), resolution, ""
    refund.decided_by_id = actor_id
    refund.save(update_fields=["abnormal_resolved_at", "abnormal_resolution", "last_error", "decided_by_id"])
    event = "refund_abnormal_offline" if resolution == AbnormalResolution.OFFLINE else "refund_abnormal_to_bank"
    order_event_add(order=refund.order, status=event, note=f"{refund.number} {note}"[:200])
    return refund


def refund_abnormal_resolve(*, refund: Refund, actor_id: int, resolution: str, note: str = "") -> Refund:
    """Settle a refund WeChat reported ABNORMAL. `merchant_bank_card` asks WeChat Pay to send the money to the
    merchant's bank account (发起异常退款, POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund; the
    store then pays the member), outside any transaction; a WeChat failure keeps it open with the error (502) and
    it can be tried again (WeChat keys it by out_refund_no). `offline` records that the store paid the member
    itself. 409 `refund_not_abnormal` for a refund not waiting at WeChat."""
    if resolution not in AbnormalResolution.CHOICES:
        raise ApplicationError(
            _("Resolve by merchant_bank_card or offline."), fields={"resolution": list(AbnormalResolution.CHOICES)}
        )
    refund = Refund.objects.select_related("order").get(pk=refund.pk)
    if refund.abnormal_at is None or refund.abnormal_resolved_at is not None:
        raise Conflict(_("This refund is not waiting at WeChat."), code="refund_not_abnormal")
    if resolution == AbnormalResolution.MERCHANT_BANK_CARD:
        gateway = gateway_for_order(refund.order)
        if not hasattr(gateway, "abnormal_refund"):
            raise Conflict(_("Only a WeChat Pay v3 refund can be sent again."), code="refund_not_v3")
        try:
            gateway.abnormal_refund(refund_id=refund.wechat_refund_id, out_refund_no=refund.number)
        except ApplicationError as exc:
            Refund.objects.filter(pk=refund.pk).update(last_error=str(exc)[:200])
            logger.warning("abnormal refund %s: WeChat Pay refused: %s", refund.number, exc)
            raise
    return _abnormal_close(refund_id=refund.pk, actor_id=actor_id, resolution=resolution, note=note)
