"""Coupons: templates; issue by claim, staff grant or automatically (e.g. after a live show); per-member limit and
total stock enforced under concurrency; discount at checkout; return on cancellation or refund.

An issue locks the member row (so one member's concurrent claims queue up and the per-member count is exact) and
then takes one from the template by a conditional UPDATE (issued_count < total_stock)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.errors import ApplicationError, Conflict, NotFound
from members.models import Member
from miniprograms.models import Coupon, CouponTemplate


@transaction.atomic
def coupon_template_create(*, name: str, kind: str, total_stock: int, amount_off_fen: int = 0,
                           percent_off: int = 0, threshold_fen: int = 0, per_member_limit: int = 1,
                           valid_hours: int = 72, claimable: bool = True, product_ids: list[int] | None = None,
                           shop_ids: list[int] | None = None) -> CouponTemplate:
    template = CouponTemplate(name=name, kind=kind, total_stock=total_stock, amount_off_fen=amount_off_fen,
                              percent_off=percent_off, threshold_fen=threshold_fen,
                              per_member_limit=per_member_limit, valid_hours=valid_hours, claimable=claimable)
    template.full_clean()
    template.save()
    if product_ids:
        template.products.set(product_ids)
    if shop_ids:
        template.shops.set(shop_ids)
    return template


def _issue(*, template_id: int, member: Member, source: str, issue_key: str | None) -> Coupon:
    with transaction.atomic():
        Member.objects.select_for_update().filter(pk=member.pk).first()  # lock order: Member -> CouponTemplate
        if issue_key is not None:
            existing = Coupon.objects.filter(template_id=template_id, member=member, issue_key=issue_key).first()
            if existing:
                return existing
        template = CouponTemplate.objects.filter(pk=template_id, active=True).first()
        if template is None:
            raise NotFound("No such coupon.")
        held = Coupon.objects.filter(template_id=template_id, member=member).count()
        if held >= template.per_member_limit:
            raise Conflict("You already have as many of this coupon as allowed.", code="coupon_limit_reached")
        taken = CouponTemplate.objects.filter(pk=template_id, issued_count__lt=F("total_stock")) \
            .update(issued_count=F("issued_count") + 1)
        if not taken:
            raise Conflict("This coupon is all gone.", code="coupon_sold_out")
        now = timezone.now()
        coupon = Coupon(template=template, member=member, source=source, issue_key=issue_key, created_at=now,
                        valid_until=now + timedelta(hours=template.valid_hours))
        coupon.full_clean(validate_constraints=False)
        coupon.save()
        return coupon


def coupon_claim(*, member: Member, template_id: int) -> Coupon:
    """A member claims a claimable coupon (409 coupon_limit_reached / coupon_sold_out)."""
    if not CouponTemplate.objects.filter(pk=template_id, active=True, claimable=True).exists():
        raise NotFound("No such coupon.")
    return _issue(template_id=template_id, member=member, source=Coupon.Source.CLAIM, issue_key=None)


def coupon_grant(*, template: CouponTemplate, member: Member, issue_key: str) -> Coupon:
    """Staff grant; the same issue_key never grants twice to a member."""
    try:
        return _issue(template_id=template.pk, member=member, source=Coupon.Source.GRANT, issue_key=issue_key)
    except IntegrityError:
        return Coupon.objects.get(template=template, member=member, issue_key=issue_key)


@dataclass
class AutoIssueResult:
    issued: int = 0
    skipped: int = 0


def coupons_auto_issue(*, template: CouponTemplate, member_ids: list[int], issue_key: str) -> AutoIssueResult:
    """Issue to many members (e.g. everybody who watched live show 12: issue_key "live:12"), each in its own
    transaction; limits and stock hold; running it again issues nothing twice."""
    result = AutoIssueResult()
    for member in Member.objects.filter(pk__in=member_ids, status=Member.Status.ACTIVE).order_by("pk"):
        try:
            before = Coupon.objects.filter(template=template, member=member, issue_key=issue_key).exists()
            _issue(template_id=template.pk, member=member, source=Coupon.Source.AUTO, issue_key=issue_key)
            result.skipped += before
            result.issued += not before
        except (Conflict, NotFound, IntegrityError):
            result.skipped += 1
    return result


# --- checkout --------------------------------------------------------------------------------------------------

def coupon_discount(*, coupon: Coupon, shop_id: int, lines: list[dict]) -> list[int]:
    """Per-line discount in fen for `lines` ({product_id, total_fen}); raises if the coupon does not apply."""
    template = coupon.template
    now = timezone.now()
    if coupon.status != Coupon.Status.AVAILABLE or coupon.valid_until <= now:
        raise ApplicationError("This coupon cannot be used.", code="coupon_unusable", status_code=409)
    shop_ids = set(template.shops.values_list("pk", flat=True))
    if shop_ids and shop_id not in shop_ids:
        raise ApplicationError("This coupon is not valid in this shop.", code="coupon_not_applicable")
    product_ids = set(template.products.values_list("pk", flat=True))
    eligible = [i for i, line in enumerate(lines) if not product_ids or line["product_id"] in product_ids]
    base = sum(lines[i]["total_fen"] for i in eligible)
    if not eligible or base < max(template.threshold_fen, 1):
        raise ApplicationError("The order does not reach this coupon's threshold.", code="coupon_not_applicable")
    if template.kind == CouponTemplate.Kind.AMOUNT_OFF:
        off = min(template.amount_off_fen, base)
    else:
        off = base * template.percent_off // 100
    off = min(off, base - 1) if base > 1 else 0  # an order always costs at least 1 fen
    shares = [0] * len(lines)
    given = 0
    for n, i in enumerate(eligible):
        share = off - given if n == len(eligible) - 1 else off * lines[i]["total_fen"] // base
        shares[i] = share
        given += share
    return shares


def coupon_use(*, coupon_id: int, member: Member) -> None:
    used = Coupon.objects.filter(pk=coupon_id, member=member, status=Coupon.Status.AVAILABLE,
                                 valid_until__gt=timezone.now()) \
        .update(status=Coupon.Status.USED, used_at=timezone.now())
    if not used:
        raise Conflict("This coupon cannot be used.", code="coupon_unusable")


def coupon_return(*, coupon_id: int) -> None:
    """Give a used coupon back (order cancelled or refunded). It keeps its original validity."""
    Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.USED) \
        .update(status=Coupon.Status.AVAILABLE, used_at=None)
