"""Every metric, defined once: the formula of each figure for one day D (Asia/Shanghai), read from the facts.

The rollup (analytics.rollup) stores what these return; the selectors only add days up. A figure over a range is
the sum of its daily figures, and a rate over a range is (sum of daily numerators) / (sum of daily denominators).
Each function runs in the current brand's schema and returns {key: {column: value}}; a key is a store id, a guide
id, or None for the whole brand. Money is integer fen.

Day D covers [D 00:00, D+1 00:00) Asia/Shanghai. "Paid orders" are orders with paid_at in the day whose status is
paid, refunding or refunded (a refunded order stays in the figures of the day it was paid).
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.db import connection

from analytics.models import CHANNEL_COLUMNS, ActivityDay

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAID_STATUSES = ("paid", "refunding", "refunded")
HISTORICAL_CHANNELS = ("import", "store_counter")

Figures = dict  # {key: {column: int}}
# member_snapshots counts from MemberLast for a day at most this many days before the latest activity, else scans.
FAST_SNAPSHOT_DAYS = 7


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=SHANGHAI)
    return start, start + dt.timedelta(days=1)


def _rows(sql: str, params: list | dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _by_key(rows: list[tuple], columns: tuple[str, ...]) -> Figures:
    out: Figures = defaultdict(dict)
    for key, *values in rows:
        for column, value in zip(columns, values, strict=True):
            out[key][column] = int(value or 0)
    return dict(out)


# --- sales -------------------------------------------------------------------------------------------------------

SALES_COLUMNS = (
    "orders_online",
    "gmv_online_fen",
    "orders_pos",
    "gmv_pos_fen",
    "orders_member",
    "gmv_member_fen",
    "orders_nonmember",
    "gmv_nonmember_fen",
)


def sales(day: dt.date, *, by: str) -> Figures:
    """Orders and GMV of the orders paid on D, split online (mini-program) / offline (POS) and member / non-member.

        orders_online  = count(paid orders, channel online)      gmv_online_fen  = sum(total_fen) of those
        orders_pos     = count(paid orders, channel pos)         gmv_pos_fen     = ...
        orders_member  = count(paid orders with a member)        gmv_member_fen  = ...
        orders_nonmember = count(paid orders without a member)   gmv_nonmember_fen = ...

    GMV is the amount paid (total_fen, after discounts). A later refund does not change D's figures: it is counted
    by `refunds` on the day it succeeds. `by` is "store", "guide" (orders attributed to a guide) or "brand".
    """
    key = {"store": "store_id", "guide": "guide_id", "brand": "NULL::bigint"}[by]
    start, end = day_bounds(day)
    rows = _rows(
        f"""
        SELECT {key},
               count(*) FILTER (WHERE channel = 'online'), sum(total_fen) FILTER (WHERE channel = 'online'),
               count(*) FILTER (WHERE channel = 'pos'), sum(total_fen) FILTER (WHERE channel = 'pos'),
               count(*) FILTER (WHERE member_id IS NOT NULL), sum(total_fen) FILTER (WHERE member_id IS NOT NULL),
               count(*) FILTER (WHERE member_id IS NULL), sum(total_fen) FILTER (WHERE member_id IS NULL)
        FROM miniprograms_order
        WHERE paid_at >= %s AND paid_at < %s AND status IN %s {"AND guide_id IS NOT NULL" if by == "guide" else ""}
        GROUP BY 1""",
        [start, end, PAID_STATUSES],
    )
    return _by_key(rows, SALES_COLUMNS)


def refunds(day: dt.date, *, by: str) -> Figures:
    """Refunds that succeeded on D, counted against the refunded order's store (or guide):

        refunds = count(refunds with status succeeded and decided_at in D)   refunds_fen = sum(amount_fen)

    Net sales of a range = gross GMV (by paid day) - refunds_fen (by refund day); the paid day's gross stays.
    """
    key = {"store": "o.store_id", "guide": "o.guide_id", "brand": "NULL::bigint"}[by]
    start, end = day_bounds(day)
    rows = _rows(
        f"""
        SELECT {key}, count(*), sum(r.amount_fen)
        FROM miniprograms_refund r JOIN miniprograms_order o ON o.id = r.order_id
        WHERE r.status = 'succeeded' AND r.decided_at >= %s AND r.decided_at < %s
              {"AND o.guide_id IS NOT NULL" if by == "guide" else ""}
        GROUP BY 1""",
        [start, end],
    )
    return _by_key(rows, ("refunds", "refunds_fen"))


def coupons_used_by_store(day: dt.date) -> Figures:
    """coupons_used per store = count(paid orders of D that carry a coupon), by the order's store."""
    start, end = day_bounds(day)
    return _by_key(
        _rows(
            """
        SELECT store_id, count(*) FROM miniprograms_order
        WHERE paid_at >= %s AND paid_at < %s AND status IN %s AND coupon_id IS NOT NULL GROUP BY 1""",
            [start, end, PAID_STATUSES],
        ),
        ("coupons_used",),
    )


# --- members -----------------------------------------------------------------------------------------------------


def new_members(day: dt.date, *, by: str) -> Figures:
    """Members whose joined_at falls in D, in total (new_members) and by join channel (new_<channel>), keyed by the
    store they joined at (join_store), the guide they joined through (join_guide), or the brand.

    Channels: mini_program, store_counter (store counter), store_qr (store code), guide_share (guide), live_stream
    (live room), rights_market, card, import. Imported members count on the joined_at the import gave them.
    """
    key = {"store": "join_store_id", "guide": "join_guide_id", "brand": "NULL::bigint"}[by]
    start, end = day_bounds(day)
    channels = list(CHANNEL_COLUMNS)
    counts = ", ".join(f"count(*) FILTER (WHERE join_channel = '{c}')" for c in channels)
    rows = _rows(
        f"""
        SELECT {key}, count(*), {counts} FROM members_member
        WHERE joined_at >= %s AND joined_at < %s {"AND join_guide_id IS NOT NULL" if by == "guide" else ""}
        GROUP BY 1""",
        [start, end],
    )
    figures = _by_key(rows, ("new_members", *[CHANNEL_COLUMNS[c] for c in channels]))
    if by == "guide":  # guides carry only the total
        figures = {k: {"new_members": v["new_members"]} for k, v in figures.items()}
    return figures


def nonmember_join(day: dt.date) -> Figures:
    """Non-member join rate (非会员入会率) of store S on D = nonmember_buyers_joined / nonmember_buyers, where

        nonmember_buyers        = number of distinct buyer identities with a sale at S on D made while they were
                                  not members (miniprograms.NonMemberBuyer: openid, else phone hash, else receipt)
        nonmember_buyers_joined = those of them who became members on D after that sale: a member with the same
                                  openid or phone hash whose joined_at is on D and not before the sale.

    A buyer who joins the next day is not counted as joined (on any day). A receipt-only buyer can never be
    recognised, so counts in the denominator only. Over a range: sum of daily numerators / sum of daily
    denominators (a buyer at a store on two days counts twice).
    """
    start, end = day_bounds(day)
    rows = _rows(
        """
        SELECT b.store_id, count(DISTINCT (b.kind, b.identity)),
               count(DISTINCT (b.kind, b.identity)) FILTER (WHERE
                   (b.kind = 'openid' AND EXISTS (SELECT 1 FROM members_member m WHERE m.openid = b.identity
                                                  AND m.joined_at >= b.bought_at AND m.joined_at < %s))
                OR (b.kind = 'phone' AND EXISTS (SELECT 1 FROM members_member m WHERE m.phone_hash = b.identity
                                                 AND m.joined_at >= b.bought_at AND m.joined_at < %s)))
        FROM miniprograms_nonmemberbuyer b
        WHERE b.day = %s GROUP BY 1""",
        [end, end, day],
    )
    del start
    return _by_key(rows, ("nonmember_buyers", "nonmember_buyers_joined"))


def historical_members(day: dt.date) -> Figures:
    """Historical-member online rate (历史会员在线率) of store S = historical_online / historical_new, summed from the
    first day up to D for the cumulative rate, or over a month's days for that month's newly-online share, where

        historical member  = a member who joined by import or at a store counter (join_channel import or
                             store_counter), counted at their home store (Member.store)
        historical_new     = historical members whose joined_at is on D
        historical_online  = historical members whose first online activity (a mini-program visit or
                             registration, a member-card activation, an online order) is on D
                             (analytics.MemberOnline, kept by the rollup; call `online_firsts_record` first)

    Cumulative rate at D = sum(historical_online, days <= D) / sum(historical_new, days <= D).
    """
    start, end = day_bounds(day)
    new = _rows(
        """
        SELECT store_id, count(*) FROM members_member
        WHERE joined_at >= %s AND joined_at < %s AND join_channel IN %s GROUP BY 1""",
        [start, end, HISTORICAL_CHANNELS],
    )
    online = _rows(
        """
        SELECT m.store_id, count(*) FROM analytics_memberonline f JOIN members_member m ON m.id = f.member_id
        WHERE f.day = %s GROUP BY 1""",
        [day],
    )
    figures = _by_key(new, ("historical_new",))
    for key, value in _by_key(online, ("historical_online",)).items():
        figures.setdefault(key, {}).update(value)
    return figures


@dataclass
class ActivityChange:
    """What `activity_record` changed on D: the members whose D counts differently for the window figures (active
    or not, bought or not), and the rows written."""

    rows: int = 0
    members: set[int] = field(default_factory=set)


def activity_record(day: dt.date, *, before_write=None) -> ActivityChange:
    """Write analytics.ActivityDay for D: one row per member active on D, with flags
        ORDER  (a paid order on D), POINTS (points earned or redeemed on D), VISIT (a mini-program visit on D),
        ONLINE (a visit, an online paid order, or a member-card activation on D).
    A member is *active* on D when any of ORDER, POINTS, VISIT is set. Refreshes analytics.MemberLast for the members
    whose D changed (active or not, bought or not) and returns them: rebuilding an unchanged day changes nothing.
    `before_write(members)` is called with them before anything is written (to read the state they leave)."""
    start, end = day_bounds(day)
    A = ActivityDay
    with connection.cursor() as cursor:
        cursor.execute("SELECT member_id, flags FROM analytics_activityday WHERE day = %s", [day])
        old = dict(cursor.fetchall())
        cursor.execute(
            f"""
            SELECT member_id, bit_or(flag) FROM (
                SELECT member_id, {A.ORDER} | CASE WHEN channel = 'online' THEN {A.ONLINE} ELSE 0 END AS flag
                  FROM miniprograms_order
                 WHERE paid_at >= %(start)s AND paid_at < %(end)s AND status IN %(paid)s AND member_id IS NOT NULL
                UNION ALL
                SELECT member_id, {A.POINTS} FROM points_pointsentry
                 WHERE created_at >= %(start)s AND created_at < %(end)s AND kind IN ('earn', 'redeem')
                UNION ALL
                SELECT member_id, {A.VISIT | A.ONLINE} FROM members_membervisit WHERE day = %(day)s
                UNION ALL
                SELECT id, {A.ONLINE} FROM members_member
                 WHERE card_activated_at >= %(start)s AND card_activated_at < %(end)s
            ) facts GROUP BY member_id""",
            {"day": day, "start": start, "end": end, "paid": PAID_STATUSES},
        )
        new = dict(cursor.fetchall())
        changed = {m for m in old.keys() | new.keys() if _counts(old.get(m, 0)) != _counts(new.get(m, 0))}
        if changed and before_write:
            before_write(changed)
        if new != old:
            cursor.execute("DELETE FROM analytics_activityday WHERE day = %s", [day])
            cursor.execute(
                """
                INSERT INTO analytics_activityday (member_id, day, flags)
                SELECT m, %s, f FROM unnest(%s::bigint[], %s::smallint[]) AS t(m, f)""",
                [day, list(new), list(new.values())],
            )
    member_last_refresh(changed)
    return ActivityChange(rows=len(new), members=changed)


def _counts(flags: int) -> tuple[bool, bool]:
    """What of a member's day the window figures look at: active (order, points or visit), bought."""
    return flags & 7 != 0, flags & ActivityDay.ORDER != 0


def member_last_refresh(member_ids) -> None:
    """Set analytics.MemberLast of these members from their ActivityDay rows (two index probes each), and move
    analytics.LastDayCount by the days they leave and reach, in one statement (its sub-statements see the rows as
    they were before it). Callers hold the brand's rollup lock (analytics.rollup: rollup_day runs only under it),
    so no two refreshes run at once: the counts need no row locks (FOR UPDATE would dirty every row twice)."""
    if not member_ids:
        return
    A = ActivityDay
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH m AS (SELECT DISTINCT unnest(%s::bigint[]) AS member_id),
            old AS (
                SELECT l.member_id, l.last_active, l.last_order FROM analytics_memberlast l
                WHERE l.member_id IN (SELECT member_id FROM m)),
            new AS (
                SELECT member_id,
                       (SELECT max(day) FROM analytics_activityday a
                         WHERE a.member_id = m.member_id AND a.flags & 7 <> 0) AS last_active,
                       (SELECT max(day) FROM analytics_activityday a
                         WHERE a.member_id = m.member_id AND a.flags & {A.ORDER} <> 0) AS last_order
                FROM m),
            kept AS (
                INSERT INTO analytics_memberlast (member_id, last_active, last_order)
                SELECT member_id, last_active, last_order FROM new
                ON CONFLICT (member_id) DO UPDATE
                    SET last_active = EXCLUDED.last_active, last_order = EXCLUDED.last_order),
            moves AS (
                SELECT day, sum(a) AS a, sum(o) AS o FROM (
                    SELECT last_active AS day, -1 AS a, 0 AS o FROM old
                    UNION ALL SELECT last_order, 0, -1 FROM old
                    UNION ALL SELECT last_active, 1, 0 FROM new
                    UNION ALL SELECT last_order, 0, 1 FROM new) t
                WHERE day IS NOT NULL GROUP BY day HAVING sum(a) <> 0 OR sum(o) <> 0)
            INSERT INTO analytics_lastdaycount AS c (day, active, ordered)
            SELECT day, a, o FROM moves ORDER BY day
            ON CONFLICT (day) DO UPDATE
                SET active = c.active + EXCLUDED.active, ordered = c.ordered + EXCLUDED.ordered""",
            [sorted(member_ids)],
        )


def online_firsts_record(day: dt.date) -> set[dt.date]:
    """Keep analytics.MemberOnline: the earliest day a historical member was active online. Idempotent (LEAST).
    Returns the later days that lost a member's first online day to D (a late online fact): their
    historical_online counts that member no more, so those days are to be rebuilt."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH firsts AS (
                SELECT a.member_id, a.day FROM analytics_activityday a
                WHERE a.day = %(day)s AND a.flags & {ActivityDay.ONLINE} <> 0
                  -- a probe of each of the day's members, never a scan of all members (the planner, its estimate
                  -- of a day just written off, chose one: 0.5 s at 2M members)
                  AND (SELECT m.join_channel FROM members_member m WHERE m.id = a.member_id) IN %(channels)s),
            moved AS (
                SELECT o.day FROM analytics_memberonline o JOIN firsts f USING (member_id) WHERE o.day > %(day)s),
            kept AS (
                INSERT INTO analytics_memberonline (member_id, day) SELECT member_id, day FROM firsts
                ON CONFLICT (member_id) DO UPDATE SET day = LEAST(analytics_memberonline.day, EXCLUDED.day))
            SELECT DISTINCT day FROM moved""",
            {"day": day, "channels": HISTORICAL_CHANNELS},
        )
        return {row[0] for row in cursor.fetchall()}


def activity_flows(day: dt.date, *, quiet_days: int) -> dict:
    """Brand flows of D from ActivityDay (call `activity_record` for D and the days before it first):

    visitors        = members with a mini-program visit on D
    active_members  = members active on D (order, points or visit)
    reactivated     = members who bought on D, had bought before, and whose latest earlier purchase day p
                      has D - p > quiet_days (the brand's churn_quiet_days)
    birthday_buyers = members with a birthday in D's month who bought on D and not earlier in that month (the
                      brand's birthday reward is the birthday-month points multiplier, points.services.rules;
                      summed over a month: the members who used it that month)
    """
    A = ActivityDay
    first_of_month = day.replace(day=1)
    ((visitors, active),) = _rows(
        f"""
        SELECT count(*) FILTER (WHERE flags & {A.VISIT} <> 0), count(*) FILTER (WHERE flags & 7 <> 0)
        FROM analytics_activityday WHERE day = %s""",
        [day],
    )
    ((reactivated,),) = _rows(
        f"""
        SELECT count(*) FROM analytics_activityday a
        WHERE a.day = %(day)s AND a.flags & {A.ORDER} <> 0
          AND EXISTS (SELECT 1 FROM analytics_activityday p WHERE p.member_id = a.member_id
                      AND p.day < %(day)s AND p.flags & {A.ORDER} <> 0)
          AND NOT EXISTS (SELECT 1 FROM analytics_activityday p WHERE p.member_id = a.member_id
                          AND p.day >= %(since)s AND p.day < %(day)s AND p.flags & {A.ORDER} <> 0)""",
        {"day": day, "since": day - dt.timedelta(days=quiet_days)},
    )
    ((birthday,),) = _rows(
        f"""
        SELECT count(*) FROM analytics_activityday a
        WHERE a.day = %(day)s AND a.flags & {A.ORDER} <> 0
          AND (SELECT extract(month FROM m.birthday) FROM members_member m WHERE m.id = a.member_id) = %(month)s
          AND NOT EXISTS (SELECT 1 FROM analytics_activityday p WHERE p.member_id = a.member_id
                          AND p.day >= %(first)s AND p.day < %(day)s AND p.flags & {A.ORDER} <> 0)""",
        {"day": day, "month": day.month, "first": first_of_month},
    )
    return {"visitors": visitors, "active_members": active, "reactivated": reactivated, "birthday_buyers": birthday}


def member_levels_scan(day: dt.date, *, seen: int | None = None) -> dict:
    """The reference formula of the member levels at the end of D (snapshots, not additive), counting members:

    members_total          = members whose joined_at is before the end of D (members are never deleted; a
                             disabled member still counts)
    members_by_birth_month = the same members by the month of their birthday, January .. December
    birthdays_in_month     = members_by_birth_month of D's month
    (`seen`: only members with an id up to it.)
    """
    _, end = day_bounds(day)
    rows = _rows(
        """
        SELECT extract(month FROM birthday)::int, count(*) FROM members_member
        WHERE joined_at < %s AND id <= %s GROUP BY 1""",
        [end, seen if seen is not None else 2**62],
    )
    return _levels(sum(n for _, n in rows), {month: n for month, n in rows if month}, day)


def _levels(total: int, months: dict[int, int] | list[int], day: dt.date) -> dict:
    by_month = list(months) if isinstance(months, list) else [months.get(m, 0) for m in range(1, 13)]
    return {"members_total": total, "members_by_birth_month": by_month, "birthdays_in_month": by_month[day.month - 1]}


def member_levels(day: dt.date, *, previous: dict | None, old: dict | None = None, recount: bool = False) -> dict:
    """The levels of `member_levels_scan` (same formulas) kept without counting every member:

        levels(D) = levels(D-1) + D's joins (+ D's levels_adjust when D is a first of a month already recounted)
                                                               (`previous`: BrandDay of D-1)
        levels(D) = old levels(D) + D's joins with an id above the highest member id its old row had seen
                                                               (`old`: D's row so far, when D-1 is not rolled up)

    (levels: members_total and members_by_birth_month; members_seen_id: the highest member id counted), reading only
    D's new members. Continuing from D-1 counts all of D's joins again, so a member whose row committed after one
    with a higher id (two joins racing) is counted when D is rebuilt; a rebuilt past day moves by the members it
    had not counted (a late member with an old join day) and the rollup passes that on to the days after it.
    Counted by the scan when neither row is known. What no new member carries (a birthday set after joining, a join
    date an import moved) is caught once a month: with `recount` (the rollup asks on the first of a month, once) D
    is counted and the difference kept in `levels_adjust` ([total, January .. December], for the record) while the
    levels are the count."""
    ((seen,),) = _rows("SELECT coalesce(max(id), 0) FROM members_member", [])
    start, end = day_bounds(day)
    adjust = (old or {}).get("levels_adjust")
    if previous is not None and previous.get("members_by_birth_month") is not None:
        total, months, since = previous["members_total"], list(previous["members_by_birth_month"]), 0
        if adjust is not None and not recount:
            total += adjust[0]
            months = [m + a for m, a in zip(months, adjust[1:], strict=True)]
    elif old and old.get("members_by_birth_month") is not None and old.get("members_seen_id") is not None:
        total, months, since = old["members_total"], list(old["members_by_birth_month"]), old["members_seen_id"]
    else:
        return member_levels_scan(day, seen=seen) | {"levels_adjust": None, "members_seen_id": seen}
    for month, n in _rows(
        """
        SELECT extract(month FROM birthday)::int, count(*) FROM members_member
        WHERE joined_at >= %s AND joined_at < %s AND id > %s AND id <= %s GROUP BY 1""",
        [start, end, since, seen],
    ):
        total += n
        if month:
            months[month - 1] += n
    if recount:
        counted = member_levels_scan(day, seen=seen)
        adjust = [
            counted["members_total"] - total,
            *(c - m for c, m in zip(counted["members_by_birth_month"], months, strict=True)),
        ]
        total, months = counted["members_total"], counted["members_by_birth_month"]
    return _levels(total, months, day) | {"levels_adjust": adjust, "members_seen_id": seen}


def later_contributions(members, days, *, lookback_days: int, quiet_days: int) -> dict[dt.date, dict[str, int]]:
    """What `members` add, by the formulas of `member_snapshots_scan` and `activity_flows`, to each of `days`':

        active_30d, active_90d, churned (snapshots) and reactivated, birthday_buyers (flows of the day)

    read from their ActivityDay rows (one indexed read per member). analytics.rollup calls it before and after a
    past day's activity changes, for the members whose day changed, and adds the difference to the later days."""
    members, days = sorted(members), sorted(days)
    if not members or not days:
        return {}
    A = ActivityDay
    lo = days[0] - dt.timedelta(days=max(lookback_days, quiet_days, 90) + 1)
    active: dict[int, list[dt.date]] = defaultdict(list)
    bought: dict[int, list[dt.date]] = defaultdict(list)
    for member_id, day, flags in _rows(
        """
        SELECT member_id, day, flags FROM analytics_activityday
        WHERE member_id = ANY(%s) AND day > %s AND day <= %s ORDER BY member_id, day""",
        [members, lo, days[-1]],
    ):
        if flags & 7:
            active[member_id].append(day)
        if flags & A.ORDER:
            bought[member_id].append(day)
    bought_before = {
        row[0]
        for row in _rows(
            f"""
            SELECT DISTINCT member_id FROM analytics_activityday
            WHERE member_id = ANY(%s) AND day <= %s AND flags & {A.ORDER} <> 0""",
            [members, lo],
        )
    }
    birth_months = dict(
        _rows("SELECT id, extract(month FROM birthday)::int FROM members_member WHERE id = ANY(%s)", [members])
    )

    def any_in(sorted_days, first, last):  # any day in [first, last]
        i = bisect.bisect_left(sorted_days, first)
        return i < len(sorted_days) and sorted_days[i] <= last

    out = {
        day: dict.fromkeys(("active_30d", "active_90d", "churned", "reactivated", "birthday_buyers"), 0) for day in days
    }
    one = dt.timedelta(days=1)
    for m in members:
        acts, buys = active.get(m, []), bought.get(m, [])
        for day in days:
            row = out[day]
            row["active_30d"] += any_in(acts, day - 29 * one, day)
            row["active_90d"] += any_in(acts, day - 89 * one, day)
            i = bisect.bisect_right(buys, day)
            last = buys[i - 1] if i else None
            row["churned"] += bool(last and day - lookback_days * one < last <= day - quiet_days * one)
            if last == day:
                before = buys[i - 2] if i >= 2 else None
                had_bought = before is not None or m in bought_before
                row["reactivated"] += had_bought and not any_in(buys, day - quiet_days * one, day - one)
                row["birthday_buyers"] += birth_months.get(m) == day.month and not any_in(
                    buys, day.replace(day=1), day - one
                )
    return out


def member_snapshots(day: dt.date, *, lookback_days: int, quiet_days: int, previous: dict | None = None) -> dict:
    """The snapshots of `member_snapshots_scan` (active 30/90, churned at the end of D), by the cheapest way that
    gives the same figures:
    - D at most FAST_SNAPSHOT_DAYS before the latest activity (the nightly run, the recomputed days):
      `member_snapshots_counted`, sums of analytics.LastDayCount plus the members active after D: the cost follows
      the rows of D and of the days after it, not the members whose last day leaves a window;
    - an older day (a late fact, a backfill) with `previous` (D-1's active_30d, active_90d, churned):
      `member_snapshots_continued`, reading the rows of D and of the days leaving the windows;
    - otherwise `member_snapshots_scan`."""
    if _days_behind_latest(day) <= FAST_SNAPSHOT_DAYS:
        return member_snapshots_counted(day, lookback_days=lookback_days, quiet_days=quiet_days)
    if previous is None:
        return member_snapshots_scan(day, lookback_days=lookback_days, quiet_days=quiet_days)
    return member_snapshots_continued(day, lookback_days=lookback_days, quiet_days=quiet_days, previous=previous)


def _days_behind_latest(day: dt.date) -> int:
    ((latest,),) = _rows("SELECT max(day) FROM analytics_lastdaycount WHERE active > 0", [])
    return 0 if latest is None else (latest - day).days


def member_snapshots_continued(day: dt.date, *, lookback_days: int, quiet_days: int, previous: dict) -> dict:
    """The snapshots of `member_snapshots_scan`, continued from the day before (`previous`: D-1's active_30d,
    active_90d, churned), reading only the ActivityDay rows of D and of the days leaving the windows (D-W,
    D-quiet, D-lookback), each with an indexed probe of that member's days:

        active_W(D) = active_W(D-1) + members active on D and not in [D-W, D-1]
                                    - members active on D-W and not in [D-W+1, D]
        churned(D)  = churned(D-1)  + members who bought on D-quiet and not in (D-quiet, D]
                                    - members who bought on D whose latest purchase before D is in
                                      (D-1-lookback, D-1-quiet]
                                    - members who bought on D-lookback and not in (D-lookback, D]
    """
    A = ActivityDay
    one = dt.timedelta(days=1)
    out = {}
    for width in (30, 90):
        edge = day - width * one
        ((entering, leaving),) = _rows(
            """
            SELECT
              (SELECT count(*) FROM analytics_activityday a WHERE a.day = %(day)s AND a.flags & 7 <> 0
                AND NOT EXISTS (SELECT 1 FROM analytics_activityday p WHERE p.member_id = a.member_id
                                AND p.day >= %(edge)s AND p.day < %(day)s AND p.flags & 7 <> 0)),
              (SELECT count(*) FROM analytics_activityday a WHERE a.day = %(edge)s AND a.flags & 7 <> 0
                AND NOT EXISTS (SELECT 1 FROM analytics_activityday p WHERE p.member_id = a.member_id
                                AND p.day > %(edge)s AND p.day <= %(day)s AND p.flags & 7 <> 0))""",
            {"day": day, "edge": edge},
        )
        out[f"active_{width}d"] = previous[f"active_{width}d"] + entering - leaving
    bounds = {
        "day": day,
        "quiet": day - quiet_days * one,
        "look": day - lookback_days * one,
        "first": day - one - lookback_days * one,
        "last": day - one - quiet_days * one,
    }
    ((entering, came_back, aged_out),) = _rows(
        f"""
        SELECT
          (SELECT count(*) FROM analytics_activityday a WHERE a.day = %(quiet)s AND a.flags & {A.ORDER} <> 0
            AND NOT EXISTS (SELECT 1 FROM analytics_activityday p WHERE p.member_id = a.member_id
                            AND p.day > %(quiet)s AND p.day <= %(day)s AND p.flags & {A.ORDER} <> 0)),
          (SELECT count(*) FROM analytics_activityday a WHERE a.day = %(day)s AND a.flags & {A.ORDER} <> 0
            AND (SELECT max(p.day) FROM analytics_activityday p WHERE p.member_id = a.member_id
                 AND p.day < %(day)s AND p.flags & {A.ORDER} <> 0) > %(first)s
            AND (SELECT max(p.day) FROM analytics_activityday p WHERE p.member_id = a.member_id
                 AND p.day < %(day)s AND p.flags & {A.ORDER} <> 0) <= %(last)s),
          (SELECT count(*) FROM analytics_activityday a WHERE a.day = %(look)s AND a.flags & {A.ORDER} <> 0
            AND NOT EXISTS (SELECT 1 FROM analytics_activityday p WHERE p.member_id = a.member_id
                            AND p.day > %(look)s AND p.day <= %(day)s AND p.flags & {A.ORDER} <> 0))""",
        bounds,
    )
    out["churned"] = previous["churned"] + entering - came_back - aged_out
    return out


def member_snapshots_counted(day: dt.date, *, lookback_days: int, quiet_days: int) -> dict:
    """The snapshots of `member_snapshots_scan` (same formulas, same figures), counted from analytics.LastDayCount
    (members by their MemberLast days) and, for the members active after D, their ActivityDay rows:

        active_W = sum of LastDayCount.active over [D-W+1, D]
                   + members with last_active > D who have an active ActivityDay row in [D-W+1, D]
        churned  = sum of LastDayCount.ordered over [D-lookback+1, D-quiet]
                   + members with last_order > D whose latest purchase day <= D is in that range

    The sums read at most `lookback` rows; the second terms read only the members active after D (none for the
    newest day, a day's worth when yesterday is rebuilt). For a day far behind the latest activity (a backfill
    over existing history) those are many: `member_snapshots` continues or scans instead.
    """
    A = ActivityDay
    one = dt.timedelta(days=1)
    bounds = {
        "day": day,
        "since30": day - 30 * one,
        "since90": day - 90 * one,
        "first": day - lookback_days * one,
        "last": day - quiet_days * one,
    }
    ((active_30, active_90, churned),) = _rows(
        f"""
        WITH after AS MATERIALIZED (
            SELECT member_id, last_active, last_order FROM analytics_memberlast WHERE last_active > %(day)s)
        SELECT
          (SELECT coalesce(sum(active), 0) FROM analytics_lastdaycount WHERE day > %(since30)s AND day <= %(day)s)
          + (SELECT count(*) FROM after l
             WHERE EXISTS (SELECT 1 FROM analytics_activityday a WHERE a.member_id = l.member_id
                           AND a.day > %(since30)s AND a.day <= %(day)s AND a.flags & 7 <> 0)),
          (SELECT coalesce(sum(active), 0) FROM analytics_lastdaycount WHERE day > %(since90)s AND day <= %(day)s)
          + (SELECT count(*) FROM after l
             WHERE EXISTS (SELECT 1 FROM analytics_activityday a WHERE a.member_id = l.member_id
                           AND a.day > %(since90)s AND a.day <= %(day)s AND a.flags & 7 <> 0)),
          (SELECT coalesce(sum(ordered), 0) FROM analytics_lastdaycount WHERE day > %(first)s AND day <= %(last)s)
          + (SELECT count(*) FROM after l WHERE l.last_order > %(day)s
             AND (SELECT max(a.day) FROM analytics_activityday a WHERE a.member_id = l.member_id
                  AND a.day <= %(day)s AND a.flags & {A.ORDER} <> 0) > %(first)s
             AND (SELECT max(a.day) FROM analytics_activityday a WHERE a.member_id = l.member_id
                  AND a.day <= %(day)s AND a.flags & {A.ORDER} <> 0) <= %(last)s)""",
        bounds,
    )
    return {"active_30d": int(active_30), "active_90d": int(active_90), "churned": int(churned)}


def member_snapshots_scan(day: dt.date, *, lookback_days: int, quiet_days: int) -> dict:
    """The reference formula of `member_snapshots`, counting distinct members over ActivityDay's windows (cost in
    proportion to the 90/180 days of rows before D). Snapshots at the end of D (not additive: a range shows the
    value of its last day):

        active_30d / 90d   = distinct members active (order, points or visit) on a day in [D-29, D] / [D-89, D]
        churned            = members whose latest purchase day p within [D-lookback+1, D] has D - p >= quiet_days
                             (bought in the lookback window but not in the last quiet_days days; both brand
                             settings, AnalyticsSettings, default 180 / 90)
    """
    ((active_30, active_90),) = _rows(
        """
        SELECT count(DISTINCT member_id) FILTER (WHERE day > %s), count(DISTINCT member_id)
        FROM analytics_activityday WHERE day > %s AND day <= %s AND flags & 7 <> 0""",
        [day - dt.timedelta(days=30), day - dt.timedelta(days=90), day],
    )
    ((churned,),) = _rows(
        f"""
        SELECT count(*) FROM (
            SELECT member_id, max(day) AS last FROM analytics_activityday
            WHERE day > %s AND day <= %s AND flags & {ActivityDay.ORDER} <> 0 GROUP BY member_id) t
        WHERE t.last <= %s""",
        [day - dt.timedelta(days=lookback_days), day, day - dt.timedelta(days=quiet_days)],
    )
    return {"active_30d": active_30, "active_90d": active_90, "churned": churned}


# --- the day's rows of the rollups ---------------------------------------------------------------------------------


def _merge(target: dict, figures: Figures) -> None:
    for key, values in figures.items():
        target.setdefault(key, {}).update(values)


def store_day(day: dt.date) -> Figures:
    """StoreDay's figures of D per store (key None: members who joined with no store)."""
    stores: Figures = {}
    for figures in (
        sales(day, by="store"),
        refunds(day, by="store"),
        new_members(day, by="store"),
        nonmember_join(day),
        historical_members(day),
        coupons_used_by_store(day),
    ):
        _merge(stores, figures)
    return stores


def guide_day(day: dt.date) -> Figures:
    """GuideDay's figures of D per guide."""
    guides: Figures = {}
    for figures in (sales(day, by="guide"), refunds(day, by="guide"), new_members(day, by="guide")):
        _merge(guides, figures)
    guides.pop(None, None)
    return guides


def brand_day(day: dt.date, *, stores: Figures) -> dict:
    """BrandDay's sales and member flows of D (those StoreDay has too): the brand's own sales, refunds and new
    members (stores or not) and the stores' sums (`stores`: `store_day`, with its None key) of the non-member and
    historical-member counts."""
    brand: dict = {}
    for figures in (sales(day, by="brand"), refunds(day, by="brand"), new_members(day, by="brand")):
        brand.update(figures.get(None, {}))
    for column in ("nonmember_buyers", "nonmember_buyers_joined", "historical_new", "historical_online"):
        brand[column] = sum(values.get(column, 0) for values in stores.values())
    return brand


# --- points, coupons, rights market ------------------------------------------------------------------------------


def points_and_coupons(day: dt.date) -> dict:
    """Brand figures of D:

    points_earned   = sum(amount) of points entries of kind earn created on D
    points_redeemed = -sum(amount) of kind redeem                  points_expired = -sum(amount) of kind expire
    coupons_issued  = coupons created on D                         coupons_used   = coupons with used_at on D
    """
    start, end = day_bounds(day)
    ((earned, redeemed, expired),) = _rows(
        """
        SELECT sum(amount) FILTER (WHERE kind = 'earn'), -sum(amount) FILTER (WHERE kind = 'redeem'),
               -sum(amount) FILTER (WHERE kind = 'expire')
        FROM points_pointsentry WHERE created_at >= %s AND created_at < %s""",
        [start, end],
    )
    ((issued,),) = _rows(
        "SELECT count(*) FROM miniprograms_coupon WHERE created_at >= %s AND created_at < %s", [start, end]
    )
    ((used,),) = _rows("SELECT count(*) FROM miniprograms_coupon WHERE used_at >= %s AND used_at < %s", [start, end])
    return {
        "points_earned": int(earned or 0),
        "points_redeemed": int(redeemed or 0),
        "points_expired": int(expired or 0),
        "coupons_issued": issued,
        "coupons_used": used,
    }


def market(day: dt.date, *, brand_id: int) -> dict:
    """Rights-market exchanges fulfilled on D (public rows, read from the brand's schema), both directions:

    market_accepted        = exchanges by this brand's members (accepting brand = us)
    market_accepted_points = sum(points) they spent
    market_issued          = exchanges of our offers by other brands' members (issuer = us)
    market_issued_settlement_fen = sum(settlement_price_fen) we are owed for them
    """
    start, end = day_bounds(day)
    ((accepted, points, issued, settlement),) = _rows(
        """
        SELECT count(*) FILTER (WHERE accepting_brand_id = %(b)s), sum(points) FILTER (WHERE accepting_brand_id = %(b)s),
               count(*) FILTER (WHERE issuer_id = %(b)s), sum(settlement_price_fen) FILTER (WHERE issuer_id = %(b)s)
        FROM public.rights_market_exchange
        WHERE status = 'fulfilled' AND fulfilled_at >= %(s)s AND fulfilled_at < %(e)s
          AND (accepting_brand_id = %(b)s OR issuer_id = %(b)s)""",
        {"b": brand_id, "s": start, "e": end},
    )
    return {
        "market_accepted": accepted,
        "market_accepted_points": int(points or 0),
        "market_issued": issued,
        "market_issued_settlement_fen": int(settlement or 0),
    }
