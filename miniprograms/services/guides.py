"""Guides and distribution (分销): share codes (wxacode.getUnlimited with a scene id), touches (a member opened
the mini-program through a guide's code; the last touch within the window wins at order time), and the
commission ledger: credited once when an attributed order is paid (pending), payable once the return window has
passed, reversed on a refund."""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, NotFound
from members.models import Guide, Member
from miniprograms.models import (
    CommissionEntry,
    CommissionRule,
    GuideShareCode,
    GuideTouch,
    Order,
    OrderLine,
    Product,
    Shop,
)


@transaction.atomic
def commission_rule_set(*, rate_bp: int, product: Product | None = None, category=None) -> CommissionRule:
    rule = CommissionRule.objects.filter(product=product, category=category).first() or CommissionRule(
        product=product, category=category
    )
    rule.rate_bp = rate_bp
    rule.full_clean()
    rule.save()
    return rule


def commission_by_line(*, order: Order) -> dict[int, int]:
    """Each line's commission: its total x its rate (the product's rule, else its category's), rounded down."""
    lines = list(order.lines.select_related("sku__product"))
    product_ids = {ln.sku.product_id for ln in lines}
    category_ids = {ln.sku.product.category_id for ln in lines if ln.sku.product.category_id}
    by_product = dict(CommissionRule.objects.filter(product_id__in=product_ids).values_list("product_id", "rate_bp"))
    by_category = dict(
        CommissionRule.objects.filter(category_id__in=category_ids).values_list("category_id", "rate_bp")
    )
    return {
        ln.pk: ln.total_fen * by_product.get(ln.sku.product_id, by_category.get(ln.sku.product.category_id, 0)) // 10000
        for ln in lines
    }


def commission_for_order(*, order: Order) -> int:
    """Sum over lines of line total x rate (a product's rule, else its category's), rounded down per line."""
    return sum(commission_by_line(order=order).values())


def commission_credit_for_order(*, order: Order) -> CommissionEntry | None:
    """Credit the attributed guide once per order (a unique constraint on the order); each line keeps its own part
    (OrderLine.commission_fen), which a refund of that line takes back."""
    if order.guide_id is None:
        return None
    by_line = commission_by_line(order=order)
    amount = sum(by_line.values())
    if amount <= 0:
        return None
    existing = CommissionEntry.objects.filter(order=order).first()
    if existing:
        return existing
    for line_id, fen in by_line.items():
        if fen:
            OrderLine.objects.filter(pk=line_id).update(commission_fen=fen)
    entry = CommissionEntry(
        guide_id=order.guide_id,
        order=order,
        store_id=order.store_id,
        amount_fen=amount,
        payable_at=(order.paid_at or timezone.now()) + timedelta(days=settings.MINIPROGRAMS_RETURN_WINDOW_DAYS),
    )
    entry.save()
    return entry


def commission_reverse_for_order(*, order: Order) -> int:
    return (
        CommissionEntry.objects.filter(order=order)
        .exclude(status=CommissionEntry.Status.REVERSED)
        .update(status=CommissionEntry.Status.REVERSED, reversed_fen=F("amount_fen"))
    )


def _commission_refunded(*, entry: CommissionEntry, order: Order) -> int:
    """The commission the order's succeeded refunds take back in all: for units refunded by line, each line's own
    commission for those units (its rate, not the order's average; the last unit takes the remainder); for refunds
    by amount, the entry in proportion to the amount. Lines credited before lines kept their commission: all by
    amount."""
    from miniprograms.models import Refund, RefundLine

    succeeded = Refund.objects.filter(order=order, status=Refund.Status.SUCCEEDED)
    lines = {ln.pk: ln for ln in order.lines.all()}
    if sum(ln.commission_fen for ln in lines.values()) != entry.amount_fen:
        refunded = succeeded.aggregate(n=Sum("amount_fen"))["n"] or 0
        return entry.amount_fen * refunded // order.total_fen
    units: dict[int, int] = {}
    for line_id, quantity in RefundLine.objects.filter(refund__in=succeeded).values_list("order_line_id", "quantity"):
        units[line_id] = units.get(line_id, 0) + quantity
    by_line = sum(
        lines[pk].commission_fen * min(n, lines[pk].quantity) // lines[pk].quantity for pk, n in units.items()
    )
    by_amount = succeeded.filter(lines__isnull=True).aggregate(n=Sum("amount_fen"))["n"] or 0
    return min(entry.amount_fen, by_line + entry.amount_fen * by_amount // order.total_fen)


def commission_reverse_for_refund(*, order: Order, refunded_after_fen: int, refund=None) -> int:
    """Take back the commission of what the order's succeeded refunds (this one included, `refunded_after_fen` in
    all) returned: a refunded line's commission at that line's own rate, an amount in proportion; everything once
    the whole order is refunded. The caller applies each refund once (under the order's lock); returns the fen
    taken back now. A fully reversed entry is REVERSED. Taken back after the entry's payout was approved or paid:
    a clawback from the guide's next payout."""
    entry = CommissionEntry.objects.select_for_update(of=("self",)).select_related("payout").filter(order=order).first()
    if entry is None or order.total_fen <= 0:
        return 0
    target = (
        entry.amount_fen if refunded_after_fen >= order.total_fen else _commission_refunded(entry=entry, order=order)
    )
    taken = max(0, target - entry.reversed_fen)
    if taken:
        entry.reversed_fen += taken
        if entry.reversed_fen == entry.amount_fen:
            entry.status = CommissionEntry.Status.REVERSED
        entry.save(update_fields=["reversed_fen", "status"])
        if entry.payout is not None and entry.payout.status != "draft":
            from miniprograms.services.payouts import commission_clawback_record

            commission_clawback_record(entry=entry, refund=refund, amount_fen=taken)
    return taken


def commissions_mark_payable(*, now=None) -> int:
    """Pending commissions whose return window has passed become payable (orders in refund wait)."""
    now = now or timezone.now()
    return CommissionEntry.objects.filter(
        status=CommissionEntry.Status.PENDING, payable_at__lte=now, order__status=Order.Status.PAID
    ).update(status=CommissionEntry.Status.PAYABLE)


# --- share codes and touches -----------------------------------------------------------------------------------


def guide_share_code_create(
    *, guide: Guide, shop: Shop | None = None, product: Product | None = None, page: str = ""
) -> dict:
    """A mini-program code for the guide's share of a shop or a product: {scene, image_base64}."""
    if not guide.active:
        raise ApplicationError(_("This guide is inactive."), code="guide_inactive", status_code=409)
    if (shop is None) == (product is None):
        raise ApplicationError(_("Share a shop or a product."), fields={"target": ["one of shop_id, product_id"]})
    from tenants.models import WeChatApp
    from tenants.wechat import WeChatUnavailable, wechat_client, wechat_errors

    app = (
        WeChatApp.objects.select_related("brand")
        .filter(brand__schema_name=connection.schema_name, kind=WeChatApp.Kind.MINIPROGRAM)
        .first()
    )
    if app is None:
        raise ApplicationError(_("The brand has no mini-program."), code="no_miniprogram", status_code=409)
    with transaction.atomic():
        code = GuideShareCode(guide=guide, shop=shop, product=product, scene="g" + secrets.token_hex(12))
        code.full_clean()
        code.save()
    with wechat_errors(refused=lambda errcode: WeChatUnavailable(f"WeChat could not make the code ({errcode}).")):
        response = wechat_client(app).wxa.get_wxa_code_unlimited(code.scene, page=page or None)
    image = getattr(response, "content", response)
    if not isinstance(image, bytes):
        raise WeChatUnavailable(_("WeChat answered without an image."))
    return {"scene": code.scene, "image_base64": base64.b64encode(image).decode()}


@transaction.atomic
def guide_touch_record(*, member: Member, scene: str) -> GuideTouch:
    code = GuideShareCode.objects.select_related("guide").filter(scene=scene).first()
    if code is None or not code.guide.active:
        raise NotFound(_("No such share code."), code="share_code_not_found")
    touch = GuideTouch(member=member, guide=code.guide, share_code=code)
    touch.save()
    return touch
