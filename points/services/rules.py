"""Earning and expiry rules: how many points an order earns, and when a lot expires.

The one rounding rule: points for an order are computed in exact integer arithmetic from the amount paid in fen
and every percentage that applies, and rounded down ONCE per order:

    points = floor(paid_fen * rate_pct * tier_pct * campaign_pct * birthday_pct / 100**5)

where rate_pct is the store's points-per-yuan (else the brand default; 100 = 1 point per yuan), tier_pct the
member's tier multiplier, campaign_pct the highest multiplier of the campaigns that apply (they do not stack)
and birthday_pct the brand's birthday-month multiplier when the order is paid in the member's birthday month.
Dates are Asia/Shanghai dates.

Expiry: points earned on day D expire at the end of D + N months (Asia/Shanghai), or at the end of the year
after D's year, by the brand policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from core.sql_reads import JoinedRead
from points.models import Campaign, PointsEntry, PointsPolicy, StoreEarnRate
from points.services.expiry import local_date, lot_expiry_for, policy_get
from points.services.ledger import _earn, request_fingerprint

HUNDRED = 100


@dataclass(frozen=True)
class OrderFacts:
    """What the earning rules need to know about a paid order. Tier and birthday come from the members app
    (the member's tier multiplier and birthday); callers pass them so points do not depend on how members stores them."""

    paid_fen: int
    paid_at: datetime
    store_code: str | None = None
    tier_code: str | None = None
    tier_multiplier_pct: int = 100
    birthday_month: int | None = None


@dataclass(frozen=True)
class EarningBreakdown:
    points: int
    points_per_yuan_pct: int
    rate_source: str  # "brand" or "store"
    tier_multiplier_pct: int
    campaign_multiplier_pct: int
    campaign_id: int | None
    birthday_multiplier_pct: int
    rounding: str = field(default="floor once per order")


def campaign_applies(campaign: Campaign, order: OrderFacts) -> bool:
    day = local_date(order.paid_at)
    return (
        campaign.starts_on <= day <= campaign.ends_on
        and (not campaign.store_codes or order.store_code in campaign.store_codes)
        and (not campaign.tier_codes or order.tier_code in campaign.tier_codes)
    )


def points_for_order(
    *, order: OrderFacts, policy: PointsPolicy, store_rate_pct: int | None, campaigns: Iterable[Campaign]
) -> EarningBreakdown:
    """The rules as a pure function (no database): what `order` earns under these rules."""
    _order_check(order)
    rate = store_rate_pct if store_rate_pct is not None else policy.points_per_yuan_pct
    best = max(
        (c for c in campaigns if campaign_applies(c, order)),
        key=lambda c: (c.multiplier_pct, -(c.pk or 0)),
        default=None,
    )
    campaign_pct = best.multiplier_pct if best else HUNDRED
    in_birthday_month = order.birthday_month is not None and order.birthday_month == local_date(order.paid_at).month
    birthday_pct = policy.birthday_month_multiplier_pct if in_birthday_month else HUNDRED
    numerator = order.paid_fen * rate * order.tier_multiplier_pct * campaign_pct * birthday_pct
    return EarningBreakdown(
        points=numerator // HUNDRED**5,
        points_per_yuan_pct=rate,
        rate_source="store" if store_rate_pct is not None else "brand",
        tier_multiplier_pct=order.tier_multiplier_pct,
        campaign_multiplier_pct=campaign_pct,
        campaign_id=best.pk if best else None,
        birthday_multiplier_pct=birthday_pct,
    )


def _order_check(order: OrderFacts) -> None:
    errors = {}
    if not isinstance(order.paid_fen, int) or order.paid_fen < 0:
        errors["paid_fen"] = ["a whole number of fen, 0 or more"]
    if not isinstance(order.tier_multiplier_pct, int) or order.tier_multiplier_pct < 0:
        errors["tier_multiplier_pct"] = ["a whole percentage, 0 or more"]
    if order.birthday_month is not None and not 1 <= order.birthday_month <= 12:
        errors["birthday_month"] = ["1 to 12"]
    if timezone.is_naive(order.paid_at):
        errors["paid_at"] = ["needs a time zone"]
    if errors:
        raise ApplicationError(_("Invalid order for the earning rules."), code="invalid_order", fields=errors)


def _store_rate_pct(store_code: str | None) -> int | None:
    if not store_code:
        return None
    return StoreEarnRate.objects.filter(store_code=store_code).values_list("points_per_yuan_pct", flat=True).first()


def _active_campaigns_on(day: date) -> list[Campaign]:
    return list(Campaign.objects.filter(is_active=True, starts_on__lte=day, ends_on__gte=day))


def earning_rules(*, store_code: str | None, day: date) -> tuple[PointsPolicy, int | None, list[Campaign]]:
    """The rules an order paid on `day` at `store_code` earns under, in one statement: the brand policy (defaults,
    unsaved, until HQ saves one: policy_get), the store's own rate (None: the brand's; _store_rate_pct) and the
    campaigns switched on that day (_active_campaigns_on), as those reads give them. Read in the current brand's
    schema, fresh every time (no cache to go stale or to cross brands)."""
    rows = _earning_rules_read.rows([store_code or None, day, day])
    policy, rate = rows[0]["p"] or PointsPolicy(pk=1), rows[0]["r"]
    campaigns = [row["c"] for row in rows if row["c"] is not None]
    return policy, (rate.points_per_yuan_pct if rate is not None else None), campaigns


_earning_rules_read = JoinedRead(
    models=[("p", PointsPolicy), ("r", StoreEarnRate), ("c", Campaign)],
    attach=[],
    tail='FROM (VALUES (1)) AS one (x) LEFT JOIN {p} ON p."id" = 1 LEFT JOIN {r} ON r."store_code" = %s '
    'LEFT JOIN {c} ON c."is_active" AND c."starts_on" <= %s AND c."ends_on" >= %s ORDER BY c."starts_on" DESC, c."id"',
)


def earning_for_order(*, order: OrderFacts, policy: PointsPolicy | None = None) -> EarningBreakdown:
    """What `order` earns under the rules switched on now (under `policy` instead of the brand's, if given)."""
    _order_check(order)
    read_policy, store_rate_pct, campaigns = earning_rules(store_code=order.store_code, day=local_date(order.paid_at))
    return points_for_order(
        order=order, policy=policy or read_policy, store_rate_pct=store_rate_pct, campaigns=campaigns
    )


def earning_preview(
    *, order: OrderFacts, campaign: Campaign | None = None, policy_changes: dict | None = None
) -> dict[str, EarningBreakdown]:
    """What a sample order earns now ("current") and with a rule not yet switched on ("proposed"): a draft or
    inactive `campaign` taken as active, and/or `policy_changes` (field -> value) to the brand policy."""
    _order_check(order)
    current = earning_for_order(order=order)
    policy = policy_get()
    if policy_changes:
        policy = replace_fields(policy, policy_changes)
    campaigns = [c for c in _active_campaigns_on(local_date(order.paid_at)) if campaign is None or c.pk != campaign.pk]
    if campaign is not None:
        campaigns.append(campaign)
    proposed = points_for_order(
        order=order, policy=policy, store_rate_pct=_store_rate_pct(order.store_code), campaigns=campaigns
    )
    return {"current": current, "proposed": proposed}


PREVIEWABLE_POLICY_FIELDS = ("points_per_yuan_pct", "birthday_month_multiplier_pct")


def replace_fields(policy: PointsPolicy, changes: dict) -> PointsPolicy:
    """An unsaved copy of `policy` with `changes`, validated like a save would be."""
    unknown = set(changes) - set(PREVIEWABLE_POLICY_FIELDS)
    if unknown:
        raise ApplicationError(
            _("Only rates can be previewed."),
            code="invalid_policy_change",
            fields={name: ["cannot be previewed"] for name in sorted(unknown)},
        )
    draft = PointsPolicy(**{f.attname: getattr(policy, f.attname) for f in PointsPolicy._meta.concrete_fields})
    for name, value in changes.items():
        setattr(draft, name, value)
    draft.full_clean(exclude=["updated_at"], validate_unique=False)
    return draft


def points_earn_for_order(*, member, order_id: str, order: OrderFacts) -> PointsEntry | None:
    """Credit what a paid order earns under the rules switched on now (idempotency key `order:<id>:earn`,
    reference = order id, so points_reverse_for_reference(reference=order_id) undoes it on a refund).

    A retry returns the first entry even if the rules changed in between. Returns None if it earns 0 points.
    """
    key = f"order:{order_id}:earn"
    fp = request_fingerprint("earn_order", member=member.pk, order_id=order_id, **order.__dict__)
    _order_check(order)
    policy, store_rate_pct, campaigns = earning_rules(store_code=order.store_code, day=local_date(order.paid_at))
    breakdown = points_for_order(order=order, policy=policy, store_rate_pct=store_rate_pct, campaigns=campaigns)
    if breakdown.points == 0:
        return None
    return _earn(
        member=member,
        points=breakdown.points,
        idempotency_key=key,
        fingerprint=fp,
        reason="order",
        reference=str(order_id),
        expires_at=lot_expiry_for(earned_at=order.paid_at, policy=policy),
    )


def points_signup_bonus_grant(*, member) -> PointsEntry | None:
    """The brand's sign-up bonus, once per member (key `signup:<member id>`). None if the brand has none."""
    policy = policy_get()
    bonus = policy.signup_bonus_points
    if not bonus:
        return None
    key = f"signup:{member.pk}"
    fp = request_fingerprint("signup", member=member.pk)
    return _earn(
        member=member,
        points=bonus,
        idempotency_key=key,
        fingerprint=fp,
        reason="sign-up bonus",
        reference="",
        expires_at=lot_expiry_for(earned_at=timezone.now(), policy=policy),
    )
