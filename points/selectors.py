"""Reads about points: querysets already scoped, no side effects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import BigIntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, NotFound
from core.permissions import StaffScope
from members.models import Member
from points.models import PointsAccount, PointsEntry, PointsLot
from points.services.expiry import SHANGHAI

EXPIRING_SOON_DAYS = 30
MAX_EXPORT_DAYS = 366


@dataclass(frozen=True)
class PointsSummary:
    balance: int
    expiring_points: int
    expiring_until: datetime
    expiring_lots: list[dict]


def points_summary(*, member: Member, now: datetime, days: int = EXPIRING_SOON_DAYS) -> PointsSummary:
    """Balance, and what of it expires before `now + days` (lots not yet expired by the daily run included)."""
    account = PointsAccount.objects.filter(member=member).values_list("pk", "balance").first()
    account_id, balance = account if account is not None else (None, 0)
    return _summary(account_id, balance, now + timedelta(days=days))


def member_points_summary(*, openid: str, now: datetime, days: int = EXPIRING_SOON_DAYS) -> PointsSummary | None:
    """`points_summary` of the member of `openid` (None: no member has it), in two statements: the member with its
    account's id and balance, then the lots expiring soon (not even that before the member's first entry)."""
    row = Member.objects.filter(openid=openid).values_list("points_account__pk", "points_account__balance").first()
    if row is None:
        return None
    return _summary(row[0], row[1] or 0, now + timedelta(days=days))


def _summary(account_id: int | None, balance: int, until: datetime) -> PointsSummary:
    lots = []
    if account_id is not None:
        lots = list(
            PointsLot.objects.filter(account_id=account_id, is_open=True, expires_at__lte=until)
            .values("expires_at")
            .annotate(points=Sum("remaining"))
            .order_by("expires_at")
        )
    return PointsSummary(
        balance=balance, expiring_points=sum(lot["points"] for lot in lots), expiring_until=until, expiring_lots=lots
    )


def points_entries_of_member(*, member: Member) -> QuerySet[PointsEntry]:
    return PointsEntry.objects.filter(member=member)


def balance_expression() -> Coalesce:
    """The balance of the member of each row of a Member queryset, 0 before their first entry (members.hooks)."""
    balance = PointsAccount.objects.filter(member_id=OuterRef("pk")).values("balance")[:1]
    return Coalesce(Subquery(balance), Value(0), output_field=BigIntegerField())


def balance_sql(member_id_column: str) -> str:
    """`balance_expression()` as SQL over a member id column (members.hooks): the account's balance, 0 before it."""
    account = PointsAccount._meta
    return (
        f'COALESCE((SELECT pa."{account.get_field("balance").column}" FROM "{account.db_table}" pa '
        f'WHERE pa."{account.get_field("member").column}" = {member_id_column} LIMIT 1), 0)'
    )


def balance_of(*, member: Member) -> int:
    """The member's balance (0 before their first entry)."""
    return PointsAccount.objects.filter(member_id=member.pk).values_list("balance", flat=True).first() or 0


def points_earned_since(*, member: Member, since: datetime) -> int:
    """Points earned (kind earn, before any spending) since `since`: what tier thresholds count."""
    total = PointsEntry.objects.filter(
        member_id=member.pk, kind=PointsEntry.Kind.EARN, created_at__gte=since
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def member_for_staff(*, scope: StaffScope, member_id: int) -> Member:
    """The member a brand user may see: any member for HQ, their franchisee's members for a store manager
    (members.selectors writes that rule once); anything else is a 404."""
    from members.selectors import member_get_for_scope

    try:
        return member_get_for_scope(scope, member_id)
    except NotFound:
        raise NotFound(_("Member not found."), code="member_not_found") from None


def points_entries_in_period(*, scope: StaffScope, first_day: date, last_day: date) -> QuerySet[PointsEntry]:
    """Entries created from `first_day` to `last_day` inclusive (Asia/Shanghai dates), oldest first. HQ only."""
    if not scope.is_hq:
        raise NotFound(_("Not found."))
    if last_day < first_day:
        raise ApplicationError(
            _("The period ends before it starts."), code="invalid_period", fields={"end": ["before start"]}
        )
    if (last_day - first_day).days >= MAX_EXPORT_DAYS:
        raise ApplicationError(
            _("Export at most %(max_days)s days at once."),
            params={"max_days": MAX_EXPORT_DAYS},
            code="period_too_long",
            fields={"end": [f"at most {MAX_EXPORT_DAYS} days after start"]},
        )
    start = datetime.combine(first_day, time.min, tzinfo=SHANGHAI)
    end = datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=SHANGHAI)
    return PointsEntry.objects.filter(created_at__gte=start, created_at__lt=end).select_related("actor").order_by("id")
