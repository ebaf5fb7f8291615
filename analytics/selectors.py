"""Reads of the analytics rollups, scoped. The interface the API, the HQ dashboard and the console use:

    sales_figures(*, scope, date_from, date_to, grain="day", by="brand", live_today=False) -> list[dict]
        Sales, new members, non-member join rate, historical-member flows and coupons used, per period and per
        brand / franchisee / store / guide. A store manager gets only their franchisee's stores (by="brand" is
        then the total of those stores). Each row: {"period", "key", "name", <sums>, "gmv_fen", "net_gmv_fen",
        "nonmember_join_rate": {"numerator", "denominator"}}.
    brand_figures(*, scope, date_from, date_to, grain="day") -> list[dict]             (HQ only)
        BrandDay per period: the flows summed, the snapshots (members_total, active_30d, active_90d, churned,
        birthdays_in_month) as at the last rolled-up day of the period, points, coupons, market exchanges, and
        the rates active_30d_rate, nonmember_join_rate, birthday_reward_rate as fractions.
    historical_online(*, scope, as_of, by="store") -> list[dict]
        The historical-member online rate, cumulative to `as_of` and for `as_of`'s month, per store or brand.
    market_figures(*, scope, date_from, date_to) -> dict                                 (HQ only)
        Exchanges both directions in the range (from the rollups) and the ROI figures of rights_market.roi.
    live_figures(*, scope, date_from, date_to, grain="month") -> dict
        The live-stream metrics (livestream.metrics) per show and per period, when the livestream app has landed.
    freshness() -> dict: when the rollups were last run.

Reads never aggregate raw orders beyond today's: every figure comes from StoreDay / GuideDay / BrandDay (and the
month tables). Today's rows are as of the last rollup run (`freshness()`), or, with `sales_figures(live_today=True)`
(the console's dashboard), from today's facts by the same formulas. Periods are days, weeks starting on Monday,
calendar months (Asia/Shanghai) or the whole range (grain "range", period = its first day).
Rates are exact fractions; a denominator of 0 means "no data", never a rate of 0.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import connection
from django.db.models import BigIntegerField, DateField, F, Max, Q, Sum, Value
from django.db.models.functions import Cast, TruncDay, TruncMonth, TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from analytics.models import SALES_COLUMNS, STORE_COLUMNS, BrandDay, GuideDay, GuideMonth, StoreDay, StoreMonth
from core.errors import ApplicationError
from core.permissions import StaffScope

GRAINS = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth, "range": None}  # range: one period, all of it


def _period(grain: str, date_from: dt.date, column: str):
    """The period a row falls in: its day, week (from Monday) or month, or the range's first day for "range"."""
    if grain == "range":
        return Value(date_from, output_field=DateField())
    return GRAINS[grain](column)


BYS = ("brand", "franchisee", "store", "guide")
MAX_DAYS = 3 * 366
MAX_DAILY_BREAKDOWN_DAYS = 93  # per-store or per-guide figures day by day: a quarter at most (CSV: the same)

SALES_SUMS = SALES_COLUMNS
STORE_SUMS = STORE_COLUMNS
BRAND_FLOW_SUMS = (
    *STORE_SUMS,
    "points_earned",
    "points_redeemed",
    "points_expired",
    "coupons_issued",
    "market_accepted",
    "market_accepted_points",
    "market_issued",
    "market_issued_settlement_fen",
    "visitors",
    "reactivated",
    "birthday_buyers",
)
SNAPSHOTS = ("members_total", "active_30d", "active_90d", "churned", "birthdays_in_month")


def fraction(numerator: int, denominator: int) -> dict:
    return {"numerator": int(numerator or 0), "denominator": int(denominator or 0)}


@dataclass(frozen=True)
class Range:
    date_from: dt.date
    date_to: dt.date
    grain: str = "day"


def range_check(*, date_from: dt.date, date_to: dt.date, grain: str = "day", by: str = "brand") -> Range:
    fields = {}
    if date_to < date_from:
        fields["to"] = ["before from"]
    elif (date_to - date_from).days + 1 > MAX_DAYS:
        fields["to"] = [f"at most {MAX_DAYS} days"]
    elif grain == "day" and by in ("store", "guide") and (date_to - date_from).days + 1 > MAX_DAILY_BREAKDOWN_DAYS:
        fields["grain"] = [f"day by day per {by}: at most {MAX_DAILY_BREAKDOWN_DAYS} days; use week or month"]
    if grain not in GRAINS:
        fields["grain"] = [f"one of {', '.join(GRAINS)}"]
    if by not in BYS:
        fields["by"] = [f"one of {', '.join(BYS)}"]
    if fields:
        raise ApplicationError(_("Invalid range."), code="invalid_range", fields=fields)
    return Range(date_from, date_to, grain)


def _hq_only(scope: StaffScope) -> None:
    if not scope.is_hq:
        raise ApplicationError(_("Brand figures are for HQ."), code="hq_only", status_code=403)


def _store_ids(scope: StaffScope) -> list[int] | None:
    """None for HQ (every store), else the manager's stores (members.selectors decides)."""
    if scope.is_hq:
        return None
    from members.selectors import stores_for_scope

    return list(stores_for_scope(scope).values_list("pk", flat=True))


def _names(by: str, keys: set) -> dict:
    from members.models import Franchisee, Guide, Store

    model = {"franchisee": Franchisee, "store": Store, "guide": Guide}.get(by)
    if model is None or not keys:
        return {}
    rows = model.objects.filter(pk__in=[k for k in keys if k is not None])
    if model is Franchisee:
        return dict(rows.values_list("pk", "name"))
    if model is Store:
        return {pk: f"{code} {name}" for pk, code, name in rows.values_list("pk", "code", "name")}
    return {pk: f"{no} {name}" for pk, no, name in rows.values_list("pk", "employee_no", "name")}


def _derive(row: dict) -> dict:
    row["gmv_fen"] = row.get("gmv_online_fen", 0) + row.get("gmv_pos_fen", 0)
    row["orders"] = row.get("orders_online", 0) + row.get("orders_pos", 0)
    row["net_gmv_fen"] = row["gmv_fen"] - row.get("refunds_fen", 0)
    if "nonmember_buyers" in row:
        row["nonmember_join_rate"] = fraction(row["nonmember_buyers_joined"], row["nonmember_buyers"])
    return row


def _sums(qs, key: str | None, sums) -> list[tuple]:
    """Run an aggregate `values()` queryset as plain SQL: (period, key, [sums]) per row, without Django's per-value
    converters (a year of 500 stores is 12,000 values a read)."""
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [d[0] for d in cursor.description]
        rows = cursor.fetchall()
    at_period, at_key = names.index("period"), names.index(key) if key else None
    at_sums = [names.index(c) for c in sums]
    out = []
    for row in rows:
        period = row[at_period]
        if isinstance(period, dt.datetime):
            period = period.date()
        out.append((period, row[at_key] if key else None, [row[i] or 0 for i in at_sums]))
    return out


def _month_end(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def _month_split(date_from: dt.date, date_to: dt.date) -> tuple[list[dt.date], list[tuple[dt.date, dt.date]]]:
    """The calendar months wholly inside the range (read from the month tables) and the partial edges (days)."""
    full, partial = [], []
    for first, last in _periods(date_from, date_to, "month"):
        month_end = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        if first.day == 1 and last == month_end:
            full.append(first)
        else:
            partial.append((first, last))
    return full, partial


def sales_figures(
    *,
    scope: StaffScope,
    date_from: dt.date,
    date_to: dt.date,
    grain: str = "day",
    by: str = "brand",
    live_today: bool = False,
    now: dt.datetime | None = None,
) -> list[dict]:
    """See the module docstring. Rows are ordered by period, then key. By month, whole months are read from
    StoreMonth / GuideMonth; a partial month from the day tables, or, when the range holds most of it, as its month
    row less the days outside the range (a year to yesterday reads a day of rows, not a month of them). With `live_today`, today (if in the range) is
    not read from its rollup (as of the last run) but from today's facts, by the same formulas (analytics.metrics):
    the only raw rows a read aggregates are today's."""
    span = range_check(date_from=date_from, date_to=date_to, grain=grain, by=by)
    today = timezone.localdate(now or timezone.now())
    live = live_today and span.date_from <= today <= span.date_to
    rolled_to = today - dt.timedelta(days=1) if live else span.date_to
    stores = _store_ids(scope)
    if by == "brand" and stores is None:
        day_qs, month_qs, key, sums = BrandDay.objects.all(), None, None, STORE_SUMS
    elif by == "guide":
        day_qs, month_qs, key, sums = GuideDay.objects.all(), GuideMonth.objects.all(), "guide_id", SALES_SUMS
    else:
        day_qs, month_qs, sums = StoreDay.objects.all(), StoreMonth.objects.all(), STORE_SUMS
        key = {"brand": None, "franchisee": "franchisee_id", "store": "store_id"}[by]
    if stores is not None:
        day_qs = day_qs.filter(store_id__in=stores)
        month_qs = month_qs.filter(store_id__in=stores)
    group = ["period"] + ([key] if key else [])
    aggregates = {c: Cast(Sum(c), BigIntegerField()) for c in sums}
    querysets = []  # (queryset, +1 to add its sums or -1 to take them off)
    if rolled_to < span.date_from:
        pass  # today only
    elif span.grain in ("month", "range") and month_qs is not None:
        full, partial = _month_split(span.date_from, rolled_to)
        days_in, days_out = Q(), Q()
        for first, last in partial:  # a month mostly in the range: its month row less the days outside
            month = first.replace(day=1)
            end = _month_end(month)
            if (last - first).days + 1 > (end - month).days + 1 - ((last - first).days + 1):
                full.append(month)
                if first > month:
                    days_out |= Q(day__gte=month, day__lt=first)
                if last < end:
                    days_out |= Q(day__gt=last, day__lte=end)
            else:
                days_in |= Q(day__gte=first, day__lte=last)
        day_period = _period(span.grain, span.date_from, "day")
        if full:
            month_period = F("month") if span.grain == "month" else _period("range", span.date_from, "month")
            querysets.append((month_qs.filter(month__in=full).annotate(period=month_period), 1))
        if days_in:
            querysets.append((day_qs.filter(days_in).annotate(period=day_period), 1))
        if days_out:
            querysets.append((day_qs.filter(days_out).annotate(period=day_period), -1))
    else:
        querysets.append(
            (
                day_qs.filter(day__gte=span.date_from, day__lte=rolled_to).annotate(
                    period=_period(span.grain, span.date_from, "day")
                ),
                1,
            )
        )
    rows: dict[tuple, dict] = {}
    for qs, sign in querysets:
        for period, k, values in _sums(qs.values(*group).annotate(**aggregates).order_by(), key, sums):
            target = rows.setdefault((period, k), dict.fromkeys(sums, 0))
            for c, n in zip(sums, values, strict=True):
                target[c] += sign * n
    rows = {k: v for k, v in rows.items() if any(v.values())}  # a month row less all its days: nothing left
    if live:
        period = _period_start(today, span)
        for k, values in _today_figures(today, by=by, stores=stores).items():
            target = rows.setdefault((period, k), dict.fromkeys(sums, 0))
            for c in sums:
                target[c] += int(values.get(c, 0))
    names = _names(by, {k for _, k in rows} if key else set())
    out = []
    for (period, k), values in sorted(rows.items(), key=lambda item: (item[0][0], item[0][1] or 0)):
        out.append(_derive({"period": period, "key": k, "name": names.get(k, "") if key else "", **values}))
    return out


def _period_start(day: dt.date, span: Range) -> dt.date:
    """The first day of the period `day` falls in (weeks from Monday; "range": the range's first day)."""
    if span.grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if span.grain == "month":
        return day.replace(day=1)
    if span.grain == "range":
        return span.date_from
    return day


def _today_figures(today: dt.date, *, by: str, stores: list[int] | None) -> dict:
    """Today's partial day, from today's facts by the rollup's own formulas (analytics.metrics), keyed as `by`
    within the caller's stores (None: all)."""
    from analytics import metrics
    from members.models import Guide, Store

    if by == "guide":
        guides = metrics.guide_day(today)
        if stores is None:
            return guides
        home = dict(Guide.objects.filter(pk__in=list(guides)).values_list("pk", "store_id"))
        return {g: v for g, v in guides.items() if home.get(g) in stores}
    figures = metrics.store_day(today)
    if by == "brand" and stores is None:
        brand = metrics.brand_day(today, stores=figures)
        brand["coupons_used"] = metrics.points_and_coupons(today)["coupons_used"]
        return {None: brand}
    figures = {k: v for k, v in figures.items() if k is not None and (stores is None or k in stores)}
    if by == "store":
        return figures
    keys = (
        dict(Store.objects.filter(pk__in=list(figures)).values_list("pk", "franchisee_id"))
        if by == "franchisee"
        else dict.fromkeys(figures)
    )
    out: dict = {}
    for store_id, values in figures.items():
        target = out.setdefault(keys.get(store_id), {})
        for c, n in values.items():
            target[c] = target.get(c, 0) + n
    return out


def brand_figures(*, scope: StaffScope, date_from: dt.date, date_to: dt.date, grain: str = "day") -> list[dict]:
    """See the module docstring."""
    _hq_only(scope)
    span = range_check(date_from=date_from, date_to=date_to, grain=grain)
    days = BrandDay.objects.filter(day__gte=span.date_from, day__lte=span.date_to)
    sums = list(
        days.annotate(period=_period(span.grain, span.date_from, "day"))
        .values("period")
        .annotate(last_day=Max("day"), **{c: Sum(c) for c in BRAND_FLOW_SUMS})
        .order_by("period")
    )
    last_days = {r["last_day"] for r in sums}
    snapshots = {d["day"]: d for d in BrandDay.objects.filter(day__in=last_days).values("day", *SNAPSHOTS)}
    out = []
    for r in sums:
        snap = snapshots.get(r["last_day"], {})
        row = {
            "period": r["period"],
            "as_of": r["last_day"],
            **{c: int(r[c] or 0) for c in BRAND_FLOW_SUMS},
            **{c: snap.get(c, 0) for c in SNAPSHOTS},
        }
        row = _derive(row)
        row["active_30d_rate"] = fraction(row["active_30d"], row["members_total"])
        row["birthday_reward_rate"] = (
            fraction(row["birthday_buyers"], row["birthdays_in_month"]) if span.grain == "month" else None
        )
        out.append(row)
    return out


def historical_online(*, scope: StaffScope, as_of: dt.date, by: str = "store") -> list[dict]:
    """Historical-member online rate per store (or for the brand, by="brand"; a manager's brand is their stores):

    cumulative = sum(historical_online, days <= as_of) / sum(historical_new, days <= as_of)
    month      = sum(historical_online, as_of's month up to as_of) / cumulative denominator at as_of
    """
    if by not in ("store", "brand"):
        raise ApplicationError(_("Invalid breakdown."), code="invalid_range", fields={"by": ["store or brand"]})
    stores = _store_ids(scope)
    if by == "brand" and stores is None:
        qs = BrandDay.objects.all()
    else:
        qs = StoreDay.objects.all() if stores is None else StoreDay.objects.filter(store_id__in=stores)
    qs = qs.filter(day__lte=as_of)
    first = as_of.replace(day=1)
    group = ["store_id"] if by == "store" else []
    rows = qs.values(*group).annotate(
        new=Sum("historical_new"),
        online=Sum("historical_online"),
        month=Sum("historical_online", filter=Q(day__gte=first)),
    )
    rows = (
        list(rows.order_by(*group))
        if group
        else [
            qs.aggregate(
                new=Sum("historical_new"),
                online=Sum("historical_online"),
                month=Sum("historical_online", filter=Q(day__gte=first)),
            )
        ]
    )
    names = _names("store", {r["store_id"] for r in rows}) if by == "store" else {}
    return [
        {
            "key": r.get("store_id"),
            "name": names.get(r.get("store_id"), ""),
            "as_of": as_of,
            "cumulative": fraction(r["online"], r["new"]),
            "month": fraction(r["month"], r["new"]),
        }
        for r in rows
    ]


def market_figures(*, scope: StaffScope, date_from: dt.date, date_to: dt.date) -> dict:
    """Exchanges both directions in the range (rollups) and the ROI figures that exist today (rights_market.roi:
    all-time, computed on read from the market's own rows, not from orders)."""
    _hq_only(scope)
    range_check(date_from=date_from, date_to=date_to)
    from django.db import connection

    from rights_market.roi import roi_accepting, roi_issuer
    from tenants.models import Brand

    totals = BrandDay.objects.filter(day__gte=date_from, day__lte=date_to).aggregate(
        accepted=Sum("market_accepted"),
        accepted_points=Sum("market_accepted_points"),
        issued=Sum("market_issued"),
        issued_settlement_fen=Sum("market_issued_settlement_fen"),
    )
    brand = Brand.objects.get(schema_name=connection.schema_name)
    return {
        "as_accepting_brand": {
            "exchanges": totals["accepted"] or 0,
            "points": totals["accepted_points"] or 0,
            "roi": roi_accepting(brand=brand),
        },
        "as_issuer": {
            "exchanges": totals["issued"] or 0,
            "settlement_fen": totals["issued_settlement_fen"] or 0,
            "roi": roi_issuer(brand=brand),
        },
    }


def _periods(date_from: dt.date, date_to: dt.date, grain: str) -> list[tuple[dt.date, dt.date]]:
    """[(first day, last day)] of each day / week (from Monday) / month touching the range, clipped to it."""
    if grain == "range":
        return [(date_from, date_to)]
    out, day = [], date_from
    while day <= date_to:
        if grain == "day":
            last = day
        elif grain == "week":
            last = day + dt.timedelta(days=6 - day.weekday())
        else:
            last = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        last = min(last, date_to)
        out.append((day, last))
        day = last + dt.timedelta(days=1)
    return out


def _live_row(m) -> dict:
    return {
        "rooms": m.rooms,
        "unique_viewers": m.unique_viewers,
        "member_viewers": m.member_viewers,
        "non_member_viewers": m.non_member_viewers,
        "peak_concurrent": m.peak_concurrent,
        "watch_seconds_total": m.watch_seconds_total,
        "average_watch_seconds": m.average_watch_seconds,
        "new_members": m.new_members,
        "orders_during_show": m.orders_during_show,
        "gmv_during_show_fen": m.gmv_during_show_fen,
        "orders_post_show": m.orders_post_show,
        "gmv_post_show_fen": m.gmv_post_show_fen,
        "like_rate": fraction(m.likers, m.viewer_shows),
        "interaction_rate": fraction(m.interactors, m.viewer_shows),
        "reactivation_rate": fraction(m.reactivated_members, m.lapsed_member_viewers),
    }


def live_figures(*, scope: StaffScope, date_from: dt.date, date_to: dt.date, grain: str = "month") -> dict:
    """The live-stream metrics (livestream.metrics, defined there once) per show and per period, scoped like the
    console (a store manager sees their stores' shows). Shows count in the period they started in. Livestream is
    a lower layer: until it is installed with its metrics module, "available" is False and the lists are empty."""
    span = range_check(date_from=date_from, date_to=date_to, grain=grain)
    try:
        from livestream import metrics as live
        from livestream.selectors import rooms_for_scope
    except ImportError:
        return {"available": False, "periods": [], "rooms": []}
    periods = [
        {"period": first, **_live_row(live.period_metrics(scope=scope, date_from=first, date_to=last))}
        for first, last in _periods(span.date_from, span.date_to, span.grain)
    ]
    total = live.period_metrics(scope=scope, date_from=span.date_from, date_to=span.date_to)
    rooms = rooms_for_scope(scope).filter(pk__in=total.room_ids).order_by("start_at", "pk")
    return {
        "available": True,
        "total": _live_row(total),
        "periods": periods,
        "rooms": [
            {"room_id": room.pk, "name": getattr(room, "name", ""), **_live_row(live.room_metrics(room))}
            for room in rooms
        ],
    }


def freshness() -> dict:
    last = BrandDay.objects.aggregate(at=Max("rolled_up_at"), day=Max("day"))
    return {"rolled_up_at": last["at"], "last_day": last["day"]}
