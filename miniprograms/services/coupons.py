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
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound
from members.models import Member
from miniprograms.hooks import coupon_changed_notify
from miniprograms.models import Coupon, CouponTemplate


@transaction.atomic
def coupon_template_create(
    *,
    name: str,
    kind: str,
    total_stock: int,
    amount_off_fen: int = 0,
    percent_off: int = 0,
    threshold_fen: int = 0,
    per_member_limit: int = 1,
    valid_hours: int = 72,
    claimable: bool = True,
    product_ids: list[int] | None = None,
    shop_ids: list[int] | None = None,
) -> CouponTemplate:
    template = CouponTemplate(
        name=name,
        kind=kind,
        total_stock=total_stock,
        amount_off_fen=amount_off_fen,
        percent_off=percent_off,
        threshold_fen=threshold_fen,
        per_member_limit=per_member_limit,
        valid_hours=valid_hours,
        claimable=claimable,
    )
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
            raise NotFound(_("No such coupon."))
        held = Coupon.objects.filter(template_id=template_id, member=member).count()
        if held >= template.per_member_limit:
            raise Conflict(_("You already have as many of this coupon as allowed."), code="coupon_limit_reached")
        taken = CouponTemplate.objects.filter(pk=template_id, issued_count__lt=F("total_stock")).update(
            issued_count=F("issued_count") + 1
        )
        if not taken:
            raise Conflict(_("This coupon is all gone."), code="coupon_sold_out")
        now = timezone.now()
        coupon = Coupon(
            template=template,
            member=member,
            source=source,
            issue_key=issue_key,
            created_at=now,
            valid_until=now + timedelta(hours=template.valid_hours),
        )
        coupon.full_clean(validate_constraints=False)
        coupon.save()
        return coupon


def coupon_claim(*, member: Member, template_id: int) -> Coupon:
    """A member claims a claimable coupon (409 coupon_limit_reached / coupon_sold_out)."""
    if not CouponTemplate.objects.filter(pk=template_id, active=True, claimable=True).exists():
        raise NotFound(_("No such coupon."))
    return _issue(template_id=template_id, member=member, source=Coupon.Source.CLAIM, issue_key=None)


def coupon_grant(*, template: CouponTemplate, member: Member, issue_key: str) -> Coupon:
    """Staff grant; the same issue_key never grants twice to a member."""
    try:
        return _issue(template_id=template.pk, member=member, source=Coupon.Source.GRANT, issue_key=issue_key)
    except IntegrityError:
        return Coupon.objects.get(template=template, member=member, issue_key=issue_key)


def coupon_template_reserve(*, template_id: int) -> CouponTemplate:
    """Take one coupon of the template's stock for an issue that happens later (a rights market voucher is
    fulfilled now and becomes a coupon when its holder claims it). Raises Conflict coupon_sold_out."""
    template = CouponTemplate.objects.filter(pk=template_id, active=True).first()
    if template is None:
        raise NotFound(_("No such coupon."), code="coupon_template_not_found")
    taken = CouponTemplate.objects.filter(pk=template_id, issued_count__lt=F("total_stock")).update(
        issued_count=F("issued_count") + 1
    )
    if not taken:
        raise Conflict(_("This coupon is all gone."), code="coupon_sold_out")
    return template


def coupon_issue_reserved(*, template_id: int, member: Member, issue_key: str, valid_until, code: str) -> Coupon:
    """Issue a coupon whose stock was taken before (coupon_template_reserve), with its own validity and POS
    code; the template's rules apply at use. Not counted against the template's per-member limit (the rights
    market keeps its own). The same (template, member, issue_key) again returns the first coupon."""
    with transaction.atomic():
        Member.objects.select_for_update().filter(pk=member.pk).first()  # lock order: Member -> CouponTemplate
        existing = Coupon.objects.filter(template_id=template_id, member=member, issue_key=issue_key).first()
        if existing:
            return existing
        coupon = Coupon(
            template_id=template_id,
            member=member,
            source=Coupon.Source.MARKET,
            issue_key=issue_key,
            code=code,
            valid_until=valid_until,
            created_at=timezone.now(),
        )
        coupon.full_clean(validate_constraints=False, validate_unique=False)
        coupon.save(force_insert=True)
        return coupon


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


def coupon_unusable_error(coupon: Coupon) -> Conflict | None:
    """Why the coupon cannot be used now (409 coupon_unusable, the reason in the message and fields), or None."""
    if coupon.status == Coupon.Status.USED:
        return Conflict("This coupon was already used.", code="coupon_unusable", fields={"coupon": ["used"]})
    if coupon.status != Coupon.Status.AVAILABLE:
        return Conflict(f"This coupon is {coupon.status}.", code="coupon_unusable", fields={"coupon": [coupon.status]})
    if coupon.valid_until <= timezone.now():
        until = timezone.localtime(coupon.valid_until).strftime("%Y-%m-%d %H:%M")
        return Conflict(f"This coupon expired at {until}.", code="coupon_unusable", fields={"coupon": ["expired"]})
    return None


def coupon_discount(
    *, coupon: Coupon, lines: list[dict], shop_id: int | None = None, store_id: int | None = None
) -> list[int]:
    """Per-line discount in fen for `lines` ({product_id, total_fen}) bought in a mini-program shop (`shop_id`)
    or at a store's counter (`store_id`: valid if the template names no shop or a shop of that store); raises
    if the coupon does not apply."""
    template = coupon.template
    error = coupon_unusable_error(coupon)
    if error is not None:
        raise error
    shops = list(template.shops.values_list("pk", "store_id"))
    if shops and shop_id is not None and shop_id not in {pk for pk, _ in shops}:
        raise ApplicationError(_("This coupon is not valid in this shop."), code="coupon_not_applicable")
    if shops and shop_id is None and store_id not in {store for _, store in shops}:
        raise ApplicationError(_("This coupon is not valid in this store."), code="coupon_not_applicable")
    product_ids = set(template.products.values_list("pk", flat=True))
    eligible = [i for i, line in enumerate(lines) if not product_ids or line["product_id"] in product_ids]
    base = sum(lines[i]["total_fen"] for i in eligible)
    if not eligible or base < max(template.threshold_fen, 1):
        raise ApplicationError(_("The order does not reach this coupon's threshold."), code="coupon_not_applicable")
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
    """Take the member's coupon, once, while valid (409 coupon_unusable, saying why). Subscribers of
    miniprograms.hooks hear of it in this transaction."""
    now = timezone.now()
    used = Coupon.objects.filter(
        pk=coupon_id, member=member, status=Coupon.Status.AVAILABLE, valid_until__gt=now
    ).update(status=Coupon.Status.USED, used_at=now)
    if not used:
        coupon = Coupon.objects.filter(pk=coupon_id, member=member).first()
        error = coupon_unusable_error(coupon) if coupon is not None else None
        raise error or Conflict("This coupon cannot be used.", code="coupon_unusable")
    coupon_changed_notify(
        Coupon(pk=coupon_id, member=member, status=Coupon.Status.USED, used_at=now), used=True, at=now
    )


def coupon_return(*, coupon_id: int, now=None) -> bool:
    """Give a used coupon back (order cancelled, or every paid line of it refunded) with its original validity:
    available again while it is still valid; one whose validity has passed becomes `expired` instead (not usable,
    not shown as returned). True when the member has it back."""
    now = now or timezone.now()
    returned = Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.USED, valid_until__gt=now).update(
        status=Coupon.Status.AVAILABLE, used_at=None
    )
    if returned:
        coupon_changed_notify(Coupon.objects.get(pk=coupon_id), used=False, at=now)
        return True
    Coupon.objects.filter(pk=coupon_id, status=Coupon.Status.USED, valid_until__lte=now).update(
        status=Coupon.Status.EXPIRED
    )
    return False


def coupons_issue_batch(*, template_id: int, member_ids: list[int], issue_key: str, valid_until) -> int:
    """Issue one coupon of the template, valid until `valid_until`, to each of `member_ids` (active members) that
    has none under `issue_key` yet, in ONE transaction and a few statements (for thousands of members at a time,
    e.g. the viewers of a live show). Returns how many were issued.

    Exactly once: the (template, member, issue_key) constraint with ON CONFLICT DO NOTHING, so a re-run or a
    concurrent run issues nothing twice. Stock and per-member limit hold: the member rows are locked first (KEY
    SHARE, ascending id: the lock order of `_issue`, which locks Member then CouponTemplate), then the template
    row, and no more than the stock left is taken."""
    from django.db import connection

    if not member_ids:
        return 0
    member_table = Member._meta.db_table
    coupon_table = Coupon._meta.db_table
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {member_table} WHERE id = ANY(%s) ORDER BY id FOR KEY SHARE", [list(member_ids)]
            )
        template = CouponTemplate.objects.select_for_update().filter(pk=template_id, active=True).first()
        if template is None or template.issued_count >= template.total_stock:
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                WITH held AS (
                    SELECT member_id, count(*) AS n FROM {coupon_table}
                    WHERE member_id = ANY(%(ids)s) AND template_id = %(t)s GROUP BY member_id
                ), candidates AS (
                    SELECT m.id FROM {member_table} m LEFT JOIN held h ON h.member_id = m.id
                    WHERE m.id = ANY(%(ids)s) AND m.status = 'active' AND COALESCE(h.n, 0) < %(limit)s
                    ORDER BY m.id LIMIT %(left)s
                ), inserted AS (
                    INSERT INTO {coupon_table} (template_id, member_id, status, source, issue_key, valid_until,
                                                created_at)
                    SELECT %(t)s, id, 'available', 'auto', %(key)s, %(until)s, now() FROM candidates
                    ON CONFLICT (template_id, member_id, issue_key) WHERE issue_key IS NOT NULL DO NOTHING
                    RETURNING 1
                )
                SELECT count(*) FROM inserted
            """,
                {
                    "ids": list(member_ids),
                    "t": template_id,
                    "limit": template.per_member_limit,
                    "left": template.total_stock - template.issued_count,
                    "key": issue_key,
                    "until": valid_until,
                },
            )
            issued = cursor.fetchone()[0]
        if issued:
            CouponTemplate.objects.filter(pk=template_id).update(issued_count=F("issued_count") + issued)
        return issued
