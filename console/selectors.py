"""Reads the console's pages put together. Each starts from an app's scoped selector (members.selectors,
miniprograms.selectors): a store manager's figures cover only their franchisee's stores."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.permissions import StaffScope
from members.selectors import members_for_scope, store_get_for_scope, stores_for_scope
from miniprograms.models import Refund

PERIODS = (1, 7, 30)


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
    rows: list[dict] = field(default_factory=list)  # analytics.selectors.sales_figures per day (the panel's too)


def _store_ids(scope: StaffScope, f: DashboardFilter) -> list[int] | None:
    """The stores the figures cover: None = everything in scope."""
    if f.store_id:
        return [store_get_for_scope(scope, f.store_id).pk]
    if f.franchisee_id and scope.is_hq:
        return list(stores_for_scope(scope).filter(franchisee_id=f.franchisee_id).values_list("pk", flat=True))
    return None


def _narrow(qs: QuerySet, store_ids: list[int] | None, column: str = "store_id") -> QuerySet:
    return qs if store_ids is None else qs.filter(**{f"{column}__in": store_ids})


def _sales_rows(
    scope: StaffScope, f: DashboardFilter, *, date_from: dt.date, date_to: dt.date, grain: str, now: dt.datetime
) -> list[dict]:
    """analytics.selectors.sales_figures (rollups + today's partial day) for the filter: one row per period for the
    brand, the franchisee or the store; with grain "range" and no store filter, one row per store."""
    from analytics.selectors import sales_figures

    per_store = grain == "range" and not f.store_id
    if f.store_id:
        by, keep = "store", {store_get_for_scope(scope, f.store_id).pk}
    elif per_store:
        ids = _store_ids(scope, f)
        by, keep = "store", (None if ids is None else set(ids))
    elif f.franchisee_id and scope.is_hq:
        by, keep = "franchisee", {f.franchisee_id}
    else:
        by, keep = "brand", None
    rows = sales_figures(
        scope=scope, date_from=date_from, date_to=date_to, grain=grain, by=by, live_today=True, now=now
    )
    return [r for r in rows if keep is None or r["key"] in keep]


def dashboard(*, scope: StaffScope, filters: DashboardFilter, now: dt.datetime | None = None) -> Dashboard:
    """Sales (gross, on the day paid) and paid orders over the period, per day and per store, from the analytics
    rollups and today's partial day (analytics.selectors.sales_figures: no raw orders beyond today's); new members
    (by home store, the members the caller sees) per day; refunds waiting for a decision."""
    now = now or timezone.now()
    since = period_start(filters.days, now=now)
    today = timezone.localtime(now, local_tz()).date()
    store_ids = _store_ids(scope, filters)
    rows = _sales_rows(scope, filters, date_from=since.date(), date_to=today, grain="day", now=now)
    per_day = {r["period"]: r for r in rows}
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
                "sales_fen": row.get("gmv_fen", 0),
                "orders": row.get("orders", 0),
                "new_members": joined.get(day, 0),
            }
        )
    by_store = sorted(
        _sales_rows(scope, filters, date_from=since.date(), date_to=today, grain="range", now=now),
        key=lambda r: (-r["gmv_fen"], r["name"]),
    )[:20]
    names = {
        pk: (code, name)
        for pk, code, name in stores_for_scope(scope)
        .filter(pk__in=[r["key"] for r in by_store])
        .values_list("pk", "code", "name")
    }
    stores = [
        {
            "store_id": r["key"],
            "code": names.get(r["key"], ("", ""))[0],
            "name": names.get(r["key"], ("", ""))[1],
            "sales_fen": r["gmv_fen"],
            "orders": r["orders"],
        }
        for r in by_store
        if r["orders"]
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
        rows=rows,
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


def analytics_panel(
    *, scope: StaffScope, filters: DashboardFilter, now: dt.datetime | None = None, rows: list[dict] | None = None
) -> AnalyticsPanel:
    """The analytics figures (rollups + today's partial day) for the same stores as the dashboard; `rows`: the
    dashboard's sales_figures rows per day, when it has them already."""
    from analytics.models import STORE_COLUMNS
    from analytics.selectors import fraction, freshness

    now = now or timezone.now()
    since = period_start(filters.days, now=now)
    today = timezone.localtime(now, local_tz()).date()
    if rows is None:
        rows = _sales_rows(scope, filters, date_from=since.date(), date_to=today, grain="day", now=now)
    per_day = {r["period"]: r for r in rows}
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
