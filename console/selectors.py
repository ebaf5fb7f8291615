"""Reads the console's pages put together. Each starts from an app's scoped selector (members.selectors,
miniprograms.selectors): a store manager's figures cover only their franchisee's stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.permissions import StaffScope
from members.selectors import members_for_scope, store_get_for_scope, stores_for_scope
from miniprograms.models import Order, Refund
from miniprograms.selectors import orders_for_scope

PERIODS = (1, 7, 30)
SOLD = (Order.Status.PAID, Order.Status.REFUNDING)


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def period_start(days: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """Midnight (Asia/Shanghai) `days - 1` days before today: 1 = today, 7 = the last seven days."""
    today = timezone.localtime(now or timezone.now(), local_tz()).date()
    first = today - dt.timedelta(days=days - 1)
    return dt.datetime.combine(first, dt.time.min, tzinfo=local_tz())


@dataclass(frozen=True)
class DashboardFilter:
    days: int = 7
    franchisee_id: int | None = None  # HQ only
    store_id: int | None = None


@dataclass
class Dashboard:
    since: dt.datetime
    sales_fen: int
    orders: int
    new_members: int
    refunds_waiting: int
    days: list[dict] = field(default_factory=list)  # {day, sales_fen, orders, new_members}, every day
    stores: list[dict] = field(default_factory=list)  # {store_id, code, name, sales_fen, orders}, best first


def _store_ids(scope: StaffScope, f: DashboardFilter) -> list[int] | None:
    """The stores the figures cover: None = everything in scope."""
    if f.store_id:
        return [store_get_for_scope(scope, f.store_id).pk]
    if f.franchisee_id and scope.is_hq:
        return list(stores_for_scope(scope).filter(franchisee_id=f.franchisee_id).values_list("pk", flat=True))
    return None


def _narrow(qs: QuerySet, store_ids: list[int] | None, column: str = "store_id") -> QuerySet:
    return qs if store_ids is None else qs.filter(**{f"{column}__in": store_ids})


def dashboard(*, scope: StaffScope, filters: DashboardFilter, now: dt.datetime | None = None) -> Dashboard:
    """Sales, orders, new members and waiting refunds over the period, per day and per store."""
    now = now or timezone.now()
    since = period_start(filters.days, now=now)
    store_ids = _store_ids(scope, filters)
    sold = _narrow(orders_for_scope(scope).prefetch_related(None), store_ids).filter(
        paid_at__gte=since, paid_at__lte=now, status__in=SOLD
    )
    per_day = {
        row["day"]: row
        for row in sold.annotate(day=TruncDate("paid_at", tzinfo=local_tz()))
        .values("day")
        .annotate(sales_fen=Sum("total_fen"), orders=Count("id"))
        .order_by("day")
    }
    joined = dict(
        _narrow(members_for_scope(scope), store_ids)
        .filter(joined_at__gte=since, joined_at__lte=now)
        .annotate(day=TruncDate("joined_at", tzinfo=local_tz()))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
        .values_list("day", "n")
    )
    first = since.date()
    days = []
    for n in range(filters.days):
        day = first + dt.timedelta(days=n)
        row = per_day.get(day, {})
        days.append(
            {
                "day": day,
                "sales_fen": int(row.get("sales_fen") or 0),
                "orders": int(row.get("orders") or 0),
                "new_members": joined.get(day, 0),
            }
        )
    stores = [
        {
            "store_id": r["store_id"],
            "code": r["store__code"],
            "name": r["store__name"],
            "sales_fen": int(r["sales_fen"] or 0),
            "orders": r["orders"],
        }
        for r in sold.values("store_id", "store__code", "store__name")
        .annotate(sales_fen=Sum("total_fen"), orders=Count("id"))
        .order_by("-sales_fen", "store__code")[:20]
    ]
    refunds = Refund.objects.filter(status=Refund.Status.REQUESTED)
    if not scope.is_hq:
        refunds = refunds.filter(order__store__franchisee_id=scope.franchisee_id)
    refunds = _narrow(refunds, store_ids, "order__store_id")
    return Dashboard(
        since=since,
        sales_fen=sum(d["sales_fen"] for d in days),
        orders=sum(d["orders"] for d in days),
        new_members=sum(d["new_members"] for d in days),
        refunds_waiting=refunds.count(),
        days=days,
        stores=stores,
    )


def refunds_waiting_for_scope(scope: StaffScope) -> QuerySet[Refund]:
    qs = Refund.objects.select_related("order", "order__store").filter(status=Refund.Status.REQUESTED)
    return qs if scope.is_hq else qs.filter(order__store__franchisee_id=scope.franchisee_id)


def keyset_page(qs: QuerySet, *, before: int | None, size: int = 20) -> tuple[list, int | None]:
    """A page of a newest-first (-id) queryset: rows with id < before, and the `before` of the next page."""
    if before:
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].pk if more and rows else None)


__all__ = [
    "PERIODS",
    "Dashboard",
    "DashboardFilter",
    "dashboard",
    "keyset_page",
    "period_start",
    "refunds_waiting_for_scope",
]


def member_import_percent(imp) -> int:
    """How far a member import is, 0..100: data rows processed out of the lines uploaded (the header not
    counted). 100 only once the run has finished."""
    from members.models import MemberImport

    if imp.status in (MemberImport.Status.DONE, MemberImport.Status.FAILED):
        return 100
    expected = max(imp.lines_received - 1, 1)
    return min(99, imp.rows_processed * 100 // expected)


@dataclass
class AnalyticsPanel:
    """The analytics rollups (analytics.selectors) for the dashboard's period and filter: per day and in total."""

    days: list[dict]  # {day, gmv_member_fen, gmv_nonmember_fen, orders}, every day of the period
    totals: dict  # the sums of analytics.selectors.sales_figures over the period, with its derived figures
    rolled_up_at: dt.datetime | None


def analytics_panel(*, scope: StaffScope, filters: DashboardFilter, now: dt.datetime | None = None) -> AnalyticsPanel:
    """Figures the analytics app rolled up (hourly), for the same stores as the dashboard's live figures."""
    from analytics.models import STORE_COLUMNS
    from analytics.selectors import fraction, freshness, sales_figures

    since = period_start(filters.days, now=now)
    today = timezone.localtime(now or timezone.now(), local_tz()).date()
    if filters.store_id:
        store = store_get_for_scope(scope, filters.store_id)
        rows = [
            r
            for r in sales_figures(scope=scope, date_from=since.date(), date_to=today, by="store")
            if r["key"] == store.pk
        ]
    elif filters.franchisee_id and scope.is_hq:
        rows = [
            r
            for r in sales_figures(scope=scope, date_from=since.date(), date_to=today, by="franchisee")
            if r["key"] == filters.franchisee_id
        ]
    else:
        rows = sales_figures(scope=scope, date_from=since.date(), date_to=today, by="brand")
    per_day = {r["period"].date() if hasattr(r["period"], "date") else r["period"]: r for r in rows}
    days, totals = [], dict.fromkeys(STORE_COLUMNS, 0)
    for n in range(filters.days):
        day = since.date() + dt.timedelta(days=n)
        row = per_day.get(day, {})
        days.append(
            {
                "day": day,
                "gmv_member_fen": row.get("gmv_member_fen", 0),
                "gmv_nonmember_fen": row.get("gmv_nonmember_fen", 0),
                "orders": row.get("orders", 0),
            }
        )
        for column in STORE_COLUMNS:
            totals[column] += row.get(column, 0)
    totals["gmv_fen"] = totals["gmv_online_fen"] + totals["gmv_pos_fen"]
    totals["net_gmv_fen"] = totals["gmv_fen"] - totals["refunds_fen"]
    totals["nonmember_join_rate"] = fraction(totals["nonmember_buyers_joined"], totals["nonmember_buyers"])
    return AnalyticsPanel(days=days, totals=totals, rolled_up_at=freshness()["rolled_up_at"])
