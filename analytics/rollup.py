"""The daily rollup of one brand: StoreDay, GuideDay, BrandDay (and ActivityDay, MemberOnline) from the facts.

Promises:
- `rollup_day(day)` rebuilds one day in one transaction: its rows are deleted and inserted again from the facts
  (analytics.metrics), so running it twice leaves the same rows, and a reader sees the old day or the new one.
- `rollup_run()` (the periodic job) rebuilds every day from the last run's day (less `recompute_days - 1`) to
  today, plus every older day that received a late fact since the last run: an order (a POS batch sent late), a
  refund, a member (an import with an old join date), a non-member sale. Late facts are found from id watermarks
  (rows with ids above the last seen, less an overlap for transactions that committed out of id order), so the
  cost of a run is in proportion to the rows of the days it rebuilds, not to the history.
- Status changes of old rows are picked up through their day: a refund counts on the day it succeeds (today),
  a payment on the day it is paid, both inside the recomputed window.
- A late online fact that moves a historical member's first online day earlier (analytics.MemberOnline) also
  rebuilds the rolled-up day it moved from, so the member counts once, on the earlier day.
- Runs of one brand never overlap (a PostgreSQL advisory lock per schema): a periodic run while another run or
  a backfill holds it returns at once with skipped=True; a backfill waits for it.
- Snapshot figures are kept incrementally. Member levels (members total, by birthday month) continue from the day
  before plus the day's joins (recounted on the first of each month); the window figures (active 30/90, churned)
  of the newest days are sums over analytics.LastDayCount (members by their last active / last order day, kept
  with MemberLast for the members whose day changed), so the nightly run of a day reads that day's rows and not
  those of the days leaving the windows; an older day continues from the day before. A rebuilt past day passes
  its changes on to the rolled-up days after it: a late member moves the levels of every later day, a late order (a POS batch) moves active 30/90,
  churned, reactivated and birthday buyers of the days whose windows hold it, so a late fact 40 days back
  corrects the snapshots of the 40 days since without rebuilding them, and the cost stays with the changed rows.
"""

from __future__ import annotations

import datetime as dt
import heapq
import zlib
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from psycopg2.extras import execute_values

from analytics import metrics
from analytics.models import SALES_COLUMNS, STORE_COLUMNS, AnalyticsSettings, BrandDay, GuideDay, StoreDay, Watermark

# Ids re-read behind each watermark: a transaction that took a lower id but committed after the last run.
WATERMARK_OVERLAP = 2000
RUN_DAY = "run_day"
ONE = dt.timedelta(days=1)

# (watermark source, table, SQL giving the day a new row belongs to)
LATE_SOURCES = (
    ("orders", "miniprograms_order", "(paid_at AT TIME ZONE 'Asia/Shanghai')::date", "paid_at IS NOT NULL"),
    ("refunds", "miniprograms_refund", "(decided_at AT TIME ZONE 'Asia/Shanghai')::date", "status = 'succeeded'"),
    ("members", "members_member", "(joined_at AT TIME ZONE 'Asia/Shanghai')::date", "TRUE"),
    ("nonmember_buyers", "miniprograms_nonmemberbuyer", "day", "TRUE"),
)


def analytics_settings() -> AnalyticsSettings:
    settings_row, _ = AnalyticsSettings.objects.get_or_create(pk=1)
    return settings_row


@dataclass
class RunResult:
    days: list[dt.date] = field(default_factory=list)
    skipped: bool = False


@transaction.atomic
def rollup_day(
    day: dt.date, *, config: AnalyticsSettings | None = None, recount_month_start: bool = True
) -> set[dt.date]:
    """Rebuild the rollups of `day` (Asia/Shanghai) from the facts, with its month's StoreMonth / GuideMonth rows
    moved by the day's difference. Idempotent. `recount_month_start`: the first of a month not recounted yet is
    (metrics.member_levels); the periodic run says no for an old day it rebuilds for a late fact. Returns the
    rolled-up days after `day` that are to be rebuilt because of it (a historical member's first online day moved
    from them to `day`); `rollup_run` and `rollup_range` do."""
    config = config or analytics_settings()
    later = _later_window_days(day, config)
    before: dict = {}

    def remember(members):
        before["members"] = members
        before["figures"] = _contributions(members, later, config)

    metrics.activity_record(day, before_write=remember if later else None)
    moved_firsts = metrics.online_firsts_record(day)

    stores = metrics.store_day(day)
    franchisees = dict(_store_franchisees(k for k in stores if k is not None))
    _day_rows_replace(
        StoreDay,
        "store_id",
        day,
        {
            store_id: ({"franchisee_id": franchisees.get(store_id)}, values)
            for store_id, values in stores.items()
            if store_id is not None  # members who joined with no store count only for the brand
        },
        STORE_COLUMNS,
        ("franchisee_id",),
    )

    guides = metrics.guide_day(day)
    guide_stores = _guide_stores(guides.keys())
    _day_rows_replace(
        GuideDay,
        "guide_id",
        day,
        {
            guide_id: ({"store_id": guide_stores[guide_id][0], "franchisee_id": guide_stores[guide_id][1]}, values)
            for guide_id, values in guides.items()
        },
        SALES_COLUMNS,
        ("store_id", "franchisee_id"),
    )

    brand = metrics.brand_day(day, stores=stores)
    brand.update(metrics.points_and_coupons(day))
    brand.update(metrics.market(day, brand_id=_brand_id()))
    brand.update(metrics.activity_flows(day, quiet_days=config.churn_quiet_days))
    levels = ("members_total", "members_by_birth_month", "levels_adjust", "members_seen_id")
    old = BrandDay.objects.filter(day=day).values(*levels).first()
    previous = BrandDay.objects.filter(day=day - ONE).values(*levels, "active_30d", "active_90d", "churned").first()
    brand.update(
        metrics.member_snapshots(
            day,
            lookback_days=config.churn_lookback_days,
            quiet_days=config.churn_quiet_days,
            previous=previous,
        )
    )
    newest = not BrandDay.objects.filter(day__gt=day).exists()
    recount = recount_month_start and day.day == 1 and (old is None or old["levels_adjust"] is None)
    brand.update(metrics.member_levels(day, previous=previous, old=old, recount=recount))
    BrandDay.objects.filter(day=day).delete()
    BrandDay.objects.create(day=day, rolled_up_at=timezone.now(), **brand)
    if old and old["members_by_birth_month"] is not None and not newest:
        _levels_pass_on(day, old, brand)
    if before:
        _window_figures_pass_on(before["figures"], _contributions(before["members"], later, config))
    if not moved_firsts:
        return set()
    return set(BrandDay.objects.filter(day__in=moved_firsts).values_list("day", flat=True))


def _day_rows_replace(
    model, key: str, day: dt.date, rows: dict, columns: tuple[str, ...], extra_columns: tuple[str, ...]
) -> None:
    """Replace `day`'s rows of StoreDay / GuideDay with `rows` ({key: (extras, figures)}) and add the difference to
    the month's StoreMonth / GuideMonth rows (their extras: as on the latest day rebuilt), in the same transaction:
    the month stays the sum of its days at the cost of the day's rows."""
    day_table = model._meta.db_table
    month_table = day_table.replace("day", "month")
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {day_table} WHERE day = %s RETURNING {key}, {', '.join(columns)}", [day])
        old = {row[0]: row[1:] for row in cursor.fetchall()}
    model.objects.bulk_create(
        [model(day=day, **{key: k}, **extras, **values) for k, (extras, values) in rows.items()], batch_size=1000
    )
    changes = []
    for k in old.keys() | rows.keys():
        extras, values = rows.get(k, ({}, {}))
        was = old.get(k, (0,) * len(columns))
        delta = [int(values.get(c, 0)) - int(w or 0) for c, w in zip(columns, was, strict=True)]
        if any(delta) or k not in old:
            changes.append((day.replace(day=1), k, *[extras.get(c) for c in extra_columns], *delta))
    if not changes:
        return
    keep = ", ".join(f"{c} = COALESCE(EXCLUDED.{c}, {month_table}.{c})" for c in extra_columns)
    add = ", ".join(f"{c} = {month_table}.{c} + EXCLUDED.{c}" for c in columns)
    with connection.cursor() as cursor:
        execute_values(
            cursor.cursor,
            f"""
            INSERT INTO {month_table} (month, {key}, {", ".join(extra_columns)}, {", ".join(columns)}) VALUES %s
            ON CONFLICT (month, {key}) DO UPDATE SET {keep}, {add}""",
            changes,
        )


@transaction.atomic
def month_refresh(month: dt.date) -> None:
    """StoreMonth and GuideMonth of `month` (its first day) = the sums of its StoreDay and GuideDay rows; the
    franchisee (and the guide's store) as on the month's last rolled-up day."""
    end = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    with connection.cursor() as cursor:
        for table, key, extra, columns in (
            ("storemonth", "store_id", ["franchisee_id"], STORE_COLUMNS),
            ("guidemonth", "guide_id", ["store_id", "franchisee_id"], SALES_COLUMNS),
        ):
            source = table.replace("month", "day")
            latest = ", ".join(f"(array_agg({c} ORDER BY day DESC))[1]" for c in extra)
            cursor.execute(f"DELETE FROM analytics_{table} WHERE month = %s", [month])
            cursor.execute(
                f"""
                INSERT INTO analytics_{table} (month, {key}, {", ".join(extra)}, {", ".join(columns)})
                SELECT %s, {key}, {latest}, {", ".join(f"sum({c})" for c in columns)}
                FROM analytics_{source} WHERE day >= %s AND day < %s GROUP BY {key}""",
                [month, month, end],
            )


WINDOW_FIGURES = ("active_30d", "active_90d", "churned", "reactivated", "birthday_buyers")


def _later_window_days(day: dt.date, config: AnalyticsSettings) -> list[dt.date]:
    """The rolled-up days after `day` whose window figures a change of `day`'s activity can move: active 30/90 days
    after it, churned up to the lookback after it, reactivated up to the quiet days after it (< lookback)."""
    horizon = max(config.churn_lookback_days, 90)
    return list(
        BrandDay.objects.filter(day__gt=day, day__lt=day + dt.timedelta(days=horizon))
        .order_by("day")
        .values_list("day", flat=True)
    )


def _contributions(members, days, config: AnalyticsSettings) -> dict:
    return metrics.later_contributions(
        members, days, lookback_days=config.churn_lookback_days, quiet_days=config.churn_quiet_days
    )


def _window_figures_pass_on(before: dict, after: dict) -> None:
    """Add to each later day the change in what the members of a rebuilt past day contribute to its window figures
    (active 30/90, churned, reactivated, birthday buyers): a late order 40 days back is in the snapshots of the 40
    days after it without rebuilding them."""
    for later_day, figures in after.items():
        changes = {c: figures[c] - before[later_day][c] for c in WINDOW_FIGURES}
        if any(changes.values()):
            BrandDay.objects.filter(day=later_day).update(**{c: F(c) + n for c, n in changes.items() if n})


def _levels_pass_on(day: dt.date, old: dict, new: dict) -> None:
    """A rebuilt past day whose member levels moved (a late member with an earlier join day) moves those of the
    rolled-up days that continue from it (up to the first gap) by as much."""
    total = new["members_total"] - old["members_total"]
    months = [n - o for n, o in zip(new["members_by_birth_month"], old["members_by_birth_month"], strict=True)]
    if not total and not any(months):
        return
    last = day
    for later_day in BrandDay.objects.filter(day__gt=day).order_by("day").values_list("day", flat=True):
        if later_day != last + ONE:
            break
        last = later_day
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE analytics_brandday SET
                members_total = members_total + %(total)s,
                members_by_birth_month = ARRAY(
                    SELECT a + b FROM unnest(members_by_birth_month, %(months)s::int[]) WITH ORDINALITY AS t(a, b, i)
                    ORDER BY i),
                birthdays_in_month = birthdays_in_month + (%(months)s::int[])[extract(month FROM day)::int]
            WHERE day > %(day)s AND day <= %(last)s AND members_by_birth_month IS NOT NULL""",
            {"total": total, "months": months, "day": day, "last": last},
        )


def months_refresh(days) -> None:
    for month in sorted({day.replace(day=1) for day in days}):
        month_refresh(month)


def _brand_id() -> int:
    from tenants.models import Brand

    return Brand.objects.values_list("pk", flat=True).get(schema_name=connection.schema_name)


def _store_franchisees(store_ids) -> list[tuple[int, int | None]]:
    from members.models import Store

    return list(Store.objects.filter(pk__in=list(store_ids)).values_list("pk", "franchisee_id"))


def _guide_stores(guide_ids) -> dict[int, tuple[int, int | None]]:
    from members.models import Guide

    return {
        pk: (store_id, franchisee_id)
        for pk, store_id, franchisee_id in Guide.objects.filter(pk__in=list(guide_ids)).values_list(
            "pk", "store_id", "store__franchisee_id"
        )
    }


def _late_days(before: dt.date) -> tuple[set[dt.date], dict[str, int]]:
    """Days before `before` that got rows since the watermarks, and the new watermark values."""
    marks = dict(Watermark.objects.values_list("source", "last_id"))
    days: set[dt.date] = set()
    new_marks: dict[str, int] = {}
    with connection.cursor() as cursor:
        for source, table, day_sql, condition in LATE_SOURCES:
            cursor.execute(f"SELECT max(id) FROM {table}")
            top = cursor.fetchone()[0] or 0
            new_marks[source] = top
            if source not in marks:  # first run: history is analytics_backfill's job
                continue
            since = max(marks[source] - WATERMARK_OVERLAP, 0)
            cursor.execute(
                f"SELECT DISTINCT {day_sql} FROM {table} WHERE id > %s AND id <= %s AND {condition} AND {day_sql} < %s",
                [since, top, before],
            )
            days.update(row[0] for row in cursor.fetchall() if row[0] is not None)
    return days, new_marks


def _lock_key() -> int:
    return zlib.crc32(f"analytics-rollup:{connection.schema_name}".encode())


def rollup_run(*, now: dt.datetime | None = None) -> RunResult:
    """The periodic job for the current brand (see the module's promises). Returns the days rebuilt."""
    today = timezone.localdate(now or timezone.now())
    key = _lock_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            return RunResult(skipped=True)
    try:
        config = analytics_settings()
        marks = dict(Watermark.objects.values_list("source", "last_id"))
        last_day = dt.date.fromordinal(marks[RUN_DAY]) if marks.get(RUN_DAY) else today
        first = min(last_day, today) - dt.timedelta(days=config.recompute_days - 1)
        window = {first + dt.timedelta(days=i) for i in range((today - first).days + 1)}
        late, new_marks = _late_days(first)
        days = _rebuild(window | late, config=config, recount=window)
        new_marks[RUN_DAY] = today.toordinal()
        for source, last_id in new_marks.items():
            Watermark.objects.update_or_create(source=source, defaults={"last_id": last_id})
        return RunResult(days=days)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


def _rebuild(days, *, config: AnalyticsSettings, recount, progress=None) -> list[dt.date]:
    """rollup_day each of `days` in order, and each later day a rebuilt day asks for (a first online day moved
    away from it), once more after the day that asked. Returns the days rebuilt, in order."""
    pending = sorted(set(days))  # a sorted list is a heap
    done: list[dt.date] = []
    while pending:
        day = heapq.heappop(pending)
        if done and done[-1] == day:
            continue
        for later in rollup_day(day, config=config, recount_month_start=day in recount):
            heapq.heappush(pending, later)
        done.append(day)
        if progress:
            progress(len(done))
    return done


def rollup_range(date_from: dt.date, date_to: dt.date, *, progress=None) -> int:
    """Rebuild every day of [date_from, date_to] in order (a backfill); `progress(done, total)` after each day.
    Holds the brand's rollup lock for the whole range (waiting for a periodic run to finish first; the periodic
    runs that start meanwhile skip)."""
    config = analytics_settings()
    total = (date_to - date_from).days + 1
    days = [date_from + dt.timedelta(days=i) for i in range(total)]
    key = _lock_key()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        done = _rebuild(
            days, config=config, recount=set(days), progress=(lambda i: progress(i, total)) if progress else None
        )
        months_refresh(done)  # re-derived from the days (they follow the days already; a rebuild repairs)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
    return total
