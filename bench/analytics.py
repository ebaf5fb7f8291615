"""bench/analytics: a one-year dashboard from the daily rollups vs the same figures aggregated from raw orders, and
the nightly rollup of one new day at two sizes.

    .venv/bin/python bench/analytics.py                       # small: 50 stores, 50k members, 300k orders
    .venv/bin/python bench/analytics.py --stores 500 --members 2000000 --orders 10000000   # the issue's size
    .venv/bin/python bench/analytics.py --stores 500 --members 2000000 --orders 10000000 --fresh   # generate again

In a database of its own (`<db>_bench_analytics`, bench/_owndb.py; Redis db 10), one brand per size (franchisees,
stores, guides, members, orders over 365 days, non-member POS buyers with some joining the same day, refunds a few
days later, mini-program visits), generated with COPY. The generation and the year's backfill are done once: a
re-run finds the brand of that size (generated completely: its name carries the year's last day, which every date
of the run is taken from) and goes straight to the measurement. Then:
1. backfills the rollups for the year if they are incomplete (analytics.rollup.rollup_range: what
   `manage.py analytics_backfill` runs);
2. the one-year dashboard, `--repeat` times each: (a) from the rollups through analytics.selectors (the brand by
   month + every store over the year: what the HQ dashboard and the API read); (b) the same figures (gross sales
   split online/POS and member/non-member, refunds, new members by channel, non-member buyers and joins, by month
   and by store) aggregated from the raw orders, members and buyer rows in SQL. Prints p50/p99 and the ratio;
3. the nightly rollup of one new day (the day after the year) with --day-orders rows, then the same day again
   with 4x as many rows: its cost follows the day's rows, not the 2M members or 10M orders behind it. Judged by
   the table rows the rollup reads (pg_stat_xact_user_tables: sequential + index fetches) per order of the day,
   equal at both sizes when nothing outside the day's rows is read; the times are printed beside them.
The machine is shared: read the ratios, not the absolute times.

Profile the dashboard read (item: p99 < 100 ms):
    .venv/bin/py-spy record -o /tmp/an.svg -- .venv/bin/python bench/analytics.py --stores 500 --members 2000000 \
        --orders 10000000 --repeat 200 --raw-repeat 1 --day-orders 0
or `--profile` (cProfile of the rollup reads, top 25 by cumulative time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import itertools
import random
import statistics
import time
from zoneinfo import ZoneInfo

import _owndb

DB_NAME = _owndb.use("analytics", redis_db=10)

from _report import figure  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SH = ZoneInfo("Asia/Shanghai")
CHANNELS = [
    "mini_program",
    "store_counter",
    "store_qr",
    "guide_share",
    "live_stream",
    "rights_market",
    "card",
    "import",
]
CHANNEL_WEIGHTS = [30, 20, 15, 15, 5, 3, 2, 10]


_FILLERS = {
    "character varying": "",
    "text": "",
    "integer": 0,
    "bigint": 0,
    "smallint": 0,
    "boolean": False,
    "jsonb": "{}",
}
_required_cache: dict[str, list[tuple[str, object]]] = {}


def _required_extras(table: str, columns: list[str]) -> list[tuple[str, object]]:
    """NOT NULL columns without a database default that the bench does not set (columns other apps add later):
    filled with an empty value of their type, so the generator keeps working as the models grow."""
    key = f"{table}:{','.join(columns)}"
    if key not in _required_cache:
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT column_name, data_type FROM information_schema.columns
                              WHERE table_schema = current_schema() AND table_name = %s AND is_nullable = 'NO'
                                AND column_default IS NULL""",
                [table],
            )
            _required_cache[key] = [
                (name, _FILLERS.get(kind, ""))
                for name, kind in cursor.fetchall()
                if name not in columns and name != "id"
            ]
    return _required_cache[key]


def _copy(table: str, columns: list[str], rows) -> int:
    extras = _required_extras(table, columns)
    columns = [*columns, *(name for name, _ in extras)]
    tail = tuple(value for _, value in extras)
    buffer = io.StringIO()
    count = 0
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in (*row, *tail)))
        buffer.write("\n")
        count += 1
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
    return count


def _setval(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), coalesce(max(id), 1)) FROM {table}")


def _moment(day: dt.date, rng: random.Random) -> dt.datetime:
    seconds = int(rng.triangular(8 * 3600, 22 * 3600, 15 * 3600))
    return dt.datetime.combine(day, dt.time.min, tzinfo=SH) + dt.timedelta(seconds=seconds)


MEMBER_COLUMNS = [
    "id",
    "openid",
    "phone",
    "phone_hash",
    "name",
    "gender",
    "birthday",
    "status",
    "joined_at",
    "join_channel",
    "join_store_id",
    "join_guide_id",
    "store_id",
    "guide_id",
    "earned_points_12m",
    "spent_fen_12m",
    "card_id",
    "card_state",
    "card_activated_at",
    "updated_at",
]
ORDER_COLUMNS = [
    "id",
    "number",
    "channel",
    "store_id",
    "member_id",
    "guide_id",
    "status",
    "subtotal_fen",
    "discount_fen",
    "total_fen",
    "fulfilment",
    "fulfilment_status",
    "delivery_address",
    "receipt_no",
    "buyer_phone_hash",
    "appid",
    "prepay_id",
    "transaction_id",
    "created_at",
    "paid_at",
]


def _member_row(mid: int, *, joined: dt.datetime, channel: str, store: int, phone_hash: str, rng, card_at=None):
    birthday = dt.date(1970 + rng.randrange(40), rng.randrange(1, 13), rng.randrange(1, 29))
    online = channel not in ("import", "store_counter")
    return (
        mid,
        f"ob-{mid}" if online else None,
        "",
        phone_hash,
        "",
        "unknown",
        birthday,
        "active",
        joined.isoformat(),
        channel,
        store,
        None,
        store,
        None,
        0,
        0,
        "",
        "activated" if card_at else "none",
        card_at.isoformat() if card_at else None,
        joined.isoformat(),
    )


def generate(
    *, stores: int, members: int, orders: int, days: int, last: dt.date, visit_rate: float, seed: int = 7
) -> dict:
    """COPY a brand's `days` days ending with `last` into the current schema. Returns counts."""
    rng = random.Random(seed)
    first = last - dt.timedelta(days=days - 1)
    franchisees = max(stores // 10, 1)
    _copy(
        "members_franchisee",
        ["id", "name", "contact_name", "created_at"],
        ((i, f"F{i}", "", dt.datetime.now(SH).isoformat()) for i in range(1, franchisees + 1)),
    )
    _copy(
        "members_store",
        ["id", "code", "name", "city", "region", "address", "kind", "franchisee_id", "status", "created_at"],
        (
            (
                i,
                f"S{i:04d}",
                f"Store {i}",
                "",
                "",
                "",
                "direct" if i % 5 == 0 else "franchise",
                None if i % 5 == 0 else 1 + i % franchisees,
                "open",
                dt.datetime.now(SH).isoformat(),
            )
            for i in range(1, stores + 1)
        ),
    )
    guides = stores * 2
    _copy(
        "members_guide",
        ["id", "name", "phone", "employee_no", "store_id", "active", "created_at"],
        (
            (i, f"G{i}", "", f"E{i}", 1 + (i - 1) // 2, True, dt.datetime.now(SH).isoformat())
            for i in range(1, guides + 1)
        ),
    )
    for table in ("members_franchisee", "members_store", "members_guide"):
        _setval(table)

    # members: a third before the year, the rest joining through it
    def member_rows():
        for mid in range(1, members + 1):
            if mid <= members // 3:
                joined = _moment(first - dt.timedelta(days=rng.randrange(1, 1000)), rng)
            else:
                joined = _moment(first + dt.timedelta(days=rng.randrange(days)), rng)
            channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
            card_at = joined + dt.timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.2 else None
            yield _member_row(
                mid,
                joined=joined,
                channel=channel,
                store=rng.randrange(1, stores + 1),
                phone_hash=f"m{mid}",
                rng=rng,
                card_at=card_at,
            )

    made = {"members": 0, "orders": 0, "refunds": 0, "nonmember_buyers": 0, "visits": 0, "joins": 0}
    chunk = 100_000
    rows = member_rows()
    while True:
        batch = list(itertools.islice(rows, chunk))
        if not batch:
            break
        made["members"] += _copy("members_member", MEMBER_COLUMNS, batch)

    next_member = members + 1
    per_day = orders / days
    oid = 0
    for d in range(days):
        day = first + dt.timedelta(days=d)
        weekly = 1.3 if day.weekday() >= 5 else 0.88
        n = int(per_day * weekly * rng.uniform(0.9, 1.1))
        order_rows, buyers, joins, refunds = [], [], [], []
        for _ in range(n):
            oid += 1
            paid = _moment(day, rng)
            store = rng.randrange(1, stores + 1)
            online = rng.random() < 0.35
            member = rng.randrange(1, members + 1) if online or rng.random() < 0.6 else None
            guide = (store - 1) * 2 + 1 + rng.randrange(2) if rng.random() < 0.3 else None
            total = rng.randrange(1000, 60000)
            receipt = None if online else f"P{oid}"
            phone_hash = ""
            if member is None:
                if rng.random() < 0.5:
                    phone_hash = f"nm{oid}"
                    buyers.append((oid, store, day, "phone", phone_hash, paid.isoformat()))
                    if rng.random() < 0.12:  # joins at the counter later that day
                        joined = min(
                            paid + dt.timedelta(minutes=rng.randrange(5, 90)),
                            dt.datetime.combine(day, dt.time(23, 59), tzinfo=SH),
                        )
                        joins.append(
                            _member_row(
                                next_member,
                                joined=joined,
                                channel="store_counter",
                                store=store,
                                phone_hash=phone_hash,
                                rng=rng,
                            )
                        )
                        next_member += 1
                else:
                    buyers.append((oid, store, day, "receipt", f"{store}:{receipt}", paid.isoformat()))
            status = "paid"
            if rng.random() < 0.02:
                status = "refunded"
                decided = paid + dt.timedelta(days=rng.randrange(0, 5), hours=1)
                refunds.append(
                    (oid, oid, f"RF{oid}", total, "", "succeeded", "", paid.isoformat(), decided.isoformat())
                )
            order_rows.append(
                (
                    oid,
                    f"B{oid}",
                    "online" if online else "pos",
                    store,
                    member,
                    guide,
                    status,
                    total,
                    0,
                    total,
                    "pickup" if online else "in_store",
                    "picked_up",
                    "{}",
                    receipt,
                    phone_hash,
                    "",
                    "",
                    "",
                    paid.isoformat(),
                    paid.isoformat(),
                )
            )
        made["orders"] += _copy("miniprograms_order", ORDER_COLUMNS, order_rows)
        made["nonmember_buyers"] += _copy(
            "miniprograms_nonmemberbuyer", ["order_id", "store_id", "day", "kind", "identity", "bought_at"], buyers
        )
        made["joins"] += _copy("members_member", MEMBER_COLUMNS, joins)
        made["refunds"] += _copy(
            "miniprograms_refund",
            [
                "id",
                "order_id",
                "number",
                "amount_fen",
                "reason",
                "status",
                "wechat_refund_id",
                "created_at",
                "decided_at",
            ],
            refunds,
        )
        visitors = rng.sample(range(1, members + 1), min(members, int(members * visit_rate)))
        made["visits"] += _copy("members_membervisit", ["member_id", "day"], ((m, day) for m in visitors))
    for table in ("members_member", "miniprograms_order", "miniprograms_refund"):
        _setval(table)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return made


# --- the dashboard, two ways --------------------------------------------------------------------------------------


def dashboard_from_rollups(scope, date_from, date_to):
    from analytics import selectors

    brand = selectors.brand_figures(scope=scope, date_from=date_from, date_to=date_to, grain="month")
    stores = selectors.sales_figures(scope=scope, date_from=date_from, date_to=date_to, grain="range", by="store")
    return brand, stores


RAW_SQL = {
    "sales by month; by store": """
        SELECT date_trunc('month', paid_at AT TIME ZONE 'Asia/Shanghai') AS m, store_id,
               count(*) FILTER (WHERE channel = 'online'), sum(total_fen) FILTER (WHERE channel = 'online'),
               count(*) FILTER (WHERE channel = 'pos'), sum(total_fen) FILTER (WHERE channel = 'pos'),
               count(*) FILTER (WHERE member_id IS NOT NULL), sum(total_fen) FILTER (WHERE member_id IS NOT NULL),
               count(*) FILTER (WHERE member_id IS NULL), sum(total_fen) FILTER (WHERE member_id IS NULL)
        FROM miniprograms_order WHERE paid_at >= %(s)s AND paid_at < %(e)s
          AND status IN ('paid', 'refunding', 'refunded') GROUP BY GROUPING SETS ((1), (2))""",
    "refunds by month; by store": """
        SELECT date_trunc('month', r.decided_at AT TIME ZONE 'Asia/Shanghai'), o.store_id, count(*), sum(r.amount_fen)
        FROM miniprograms_refund r JOIN miniprograms_order o ON o.id = r.order_id
        WHERE r.status = 'succeeded' AND r.decided_at >= %(s)s AND r.decided_at < %(e)s
        GROUP BY GROUPING SETS ((1), (2))""",
    "new members by month; by store; and channel": """
        SELECT date_trunc('month', joined_at AT TIME ZONE 'Asia/Shanghai'), join_store_id, join_channel, count(*)
        FROM members_member WHERE joined_at >= %(s)s AND joined_at < %(e)s
        GROUP BY GROUPING SETS ((1, 3), (2, 3))""",
    "non-member buyers and joins by month; by store": """
        SELECT date_trunc('month', day), store_id, sum(buyers), sum(joined) FROM (
          SELECT b.day, b.store_id, count(DISTINCT (b.kind, b.identity)) AS buyers,
                 count(DISTINCT (b.kind, b.identity)) FILTER (WHERE b.kind = 'phone' AND EXISTS (
                     SELECT 1 FROM members_member m WHERE m.phone_hash = b.identity AND m.joined_at >= b.bought_at
                     AND m.joined_at < (b.day + 1)::timestamp AT TIME ZONE 'Asia/Shanghai')) AS joined
          FROM miniprograms_nonmemberbuyer b WHERE b.day >= %(sd)s AND b.day <= %(ed)s GROUP BY 1, 2) t
        GROUP BY GROUPING SETS ((1), (2))""",
}


def dashboard_from_raw(date_from, date_to):
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=SH)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=SH)
    out = {}
    with connection.cursor() as cursor:
        for name, sql in RAW_SQL.items():
            cursor.execute(sql, {"s": start, "e": end, "sd": date_from, "ed": date_to})
            out[name] = cursor.fetchall()
    return out


def timed(fn, repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def check_same_figures(scope, date_from, date_to) -> None:
    """The two ways agree: the year's totals (gross GMV, refunds, new members, non-member buyers and joins) from
    the brand's months, and every store's GMV over the year."""
    brand, stores = dashboard_from_rollups(scope, date_from, date_to)
    raw = dashboard_from_raw(date_from, date_to)
    months = {name: [r for r in rows if r[0] is not None] for name, rows in raw.items()}
    roll = {
        "gmv": sum(r["gmv_fen"] for r in brand),
        "refunds": sum(r["refunds_fen"] for r in brand),
        "new": sum(r["new_members"] for r in brand),
        "buyers": sum(r["nonmember_buyers"] for r in brand),
        "joined": sum(r["nonmember_buyers_joined"] for r in brand),
    }
    direct = {
        "gmv": sum((r[3] or 0) + (r[5] or 0) for r in months["sales by month; by store"]),
        "refunds": sum(r[3] or 0 for r in months["refunds by month; by store"]),
        "new": sum(r[3] for r in months["new members by month; by store; and channel"]),
        "buyers": sum(r[2] for r in months["non-member buyers and joins by month; by store"]),
        "joined": sum(r[3] for r in months["non-member buyers and joins by month; by store"]),
    }
    store_gmv = {r["key"]: r["gmv_fen"] for r in stores}
    raw_store_gmv = {r[1]: (r[3] or 0) + (r[5] or 0) for r in raw["sales by month; by store"] if r[0] is None}
    print(f"  same figures both ways: {roll == direct and store_gmv == raw_store_gmv}  {roll}")
    if roll != direct:
        print(f"  raw: {direct}")


def nightly(day: dt.date, *, rows: int, stores: int, members: int, rng: random.Random) -> tuple[float, float]:
    """Add `rows` orders (70% by members, with their non-member buyers otherwise) on `day`, time rollup_day(day),
    then take them out again (orders, buyers, the day's rollups, its activity and the MemberLast rows it moved), so
    the next call measures the same day from the same state. Returns (ms of rollup_day, ms of its window
    snapshots alone, table rows it read: sequential + index fetches, from pg_stat_xact_user_tables)."""
    from analytics import metrics
    from analytics.rollup import rollup_day

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM miniprograms_order")
        start_id = cursor.fetchone()[0] + 1
    order_rows, buyers = [], []
    for i in range(rows):
        oid = start_id + i
        paid = _moment(day, rng)
        store = rng.randrange(1, stores + 1)
        member = rng.randrange(1, members + 1) if rng.random() < 0.7 else None
        order_rows.append(
            (oid, f"N{oid}", "pos", store, member, None, "paid", 1000, 0, 1000, "in_store", "picked_up", "{}",
             f"N{oid}", "", "", "", "", paid.isoformat(), paid.isoformat())
        )  # fmt: skip
        if member is None:
            buyers.append((oid, store, day, "receipt", f"{store}:N{oid}", paid.isoformat()))
    _copy("miniprograms_order", ORDER_COLUMNS, order_rows)
    _copy("miniprograms_nonmemberbuyer", ["order_id", "store_id", "day", "kind", "identity", "bought_at"], buyers)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE miniprograms_order")
    with transaction.atomic():  # the rows it reads: this transaction's counters, before its commit
        t0 = time.perf_counter()
        rollup_day(day)
        total = (time.perf_counter() - t0) * 1000
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sum(coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0)) FROM pg_stat_xact_user_tables"
            )
            read = int(cursor.fetchone()[0] or 0)
    from analytics.models import BrandDay

    previous = BrandDay.objects.filter(day=day - dt.timedelta(days=1)).values("active_30d", "active_90d", "churned")
    t0 = time.perf_counter()  # as rollup_day takes them: continued from the day before
    metrics.member_snapshots(day, lookback_days=180, quiet_days=90, previous=previous.first())
    snap = (time.perf_counter() - t0) * 1000
    with connection.cursor() as cursor:
        cursor.execute("SELECT member_id FROM analytics_activityday WHERE day >= %s", [day])
        touched = [row[0] for row in cursor.fetchall()]
        cursor.execute("DELETE FROM miniprograms_nonmemberbuyer WHERE order_id >= %s", [start_id])
        cursor.execute("DELETE FROM miniprograms_order WHERE id >= %s", [start_id])
        for table in ("storeday", "guideday", "brandday", "activityday"):
            cursor.execute(f"DELETE FROM analytics_{table} WHERE day >= %s", [day])
    metrics.member_last_refresh(touched)
    from analytics.rollup import month_refresh

    month_refresh(day.replace(day=1))
    return total, snap, read


def _brand_for(slug: str, *, fresh: bool):
    """The generated brand of this size, or None (a brand left half-generated is dropped)."""
    from tenants.models import Brand

    brand = Brand.objects.filter(slug=slug).first()
    if brand is not None and (fresh or not brand.name.startswith(DONE)):
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{brand.schema_name}" CASCADE')
        brand.domains.all().delete()
        brand.delete()
        brand = None
    return brand


DONE = "Bench analytics until "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=50)
    parser.add_argument("--members", type=int, default=50_000)
    parser.add_argument("--orders", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--visit-rate", type=float, default=0.01, help="Share of members visiting each day.")
    parser.add_argument("--repeat", type=int, default=50, help="Dashboard reads from the rollups.")
    parser.add_argument("--raw-repeat", type=int, default=3, help="Dashboard reads from raw orders.")
    parser.add_argument(
        "--day-orders",
        type=int,
        default=None,
        help="Nightly: rows of the new day, then 4x (0: skip the nightly). Default: members / 200, at most 10,000 "
        "(a day of 10,000 orders among 2M members; a small brand's day in the same proportion).",
    )
    parser.add_argument("--fresh", action="store_true", help="Generate again even if the brand of this size exists.")
    parser.add_argument("--generate-only", action="store_true", help="Generate and backfill, measure nothing.")
    parser.add_argument("--profile", action="store_true", help="cProfile the rollup reads (top 25, cumulative).")
    args = parser.parse_args()

    from core.permissions import StaffScope
    from tenants.models import Brand
    from tenants.services import brand_create

    slug = f"bench{args.stores}s{args.members}m{args.orders}o"[:40]
    brand = _brand_for(slug, fresh=args.fresh)
    print(
        f"bench/analytics: {args.stores} stores, {args.members:,} members, {args.orders:,} orders over "
        f"{args.days} days (database {DB_NAME}, brand {slug}, {'reused' if brand else 'to generate'})",
        flush=True,
    )
    if brand is None:
        last = dt.date.today() - dt.timedelta(days=1)
        brand = brand_create(slug=slug, name="Bench analytics (generating)")
        connection.set_schema_to_public()
        with schema_context(brand.schema_name):
            t0 = time.perf_counter()
            made = generate(
                stores=args.stores,
                members=args.members,
                orders=args.orders,
                days=args.days,
                last=last,
                visit_rate=args.visit_rate,
            )
            print(f"generated with COPY in {time.perf_counter() - t0:.1f}s: {made}", flush=True)
        Brand.objects.filter(pk=brand.pk).update(name=f"{DONE}{last.isoformat()}")
    brand.refresh_from_db()
    date_to = dt.date.fromisoformat(brand.name.removeprefix(DONE))
    date_from = date_to - dt.timedelta(days=args.days - 1)
    scope = StaffScope(user_id=0, franchisee_id=None)
    with schema_context(brand.schema_name):
        from analytics.models import BrandDay, StoreMonth
        from analytics.rollup import rollup_range

        rolled = set(BrandDay.objects.filter(day__gte=date_from, day__lte=date_to).values_list("day", flat=True))
        missing = [date_from + dt.timedelta(days=i) for i in range(args.days)]
        missing = [day for day in missing if day not in rolled]
        if missing or not StoreMonth.objects.exists():  # a backfill cut short goes on from its first missing day
            start = missing[0] if missing else date_from
            t0 = time.perf_counter()
            done = rollup_range(start, date_to)
            took = time.perf_counter() - t0
            print(f"backfill of {done} days from {start}: {took:.1f}s ({took / done * 1000:.0f} ms a day)", flush=True)
        if args.generate_only:
            return
        check_same_figures(scope, date_from, date_to)

        dashboard_from_rollups(scope, date_from, date_to)  # warm
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(lambda: [dashboard_from_rollups(scope, date_from, date_to) for _ in range(20)])
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        rolled_ms = timed(lambda: dashboard_from_rollups(scope, date_from, date_to), args.repeat)
        raw_ms = timed(lambda: dashboard_from_raw(date_from, date_to), args.raw_repeat)
        ratio = statistics.median(raw_ms) / statistics.median(rolled_ms)
        print("one-year dashboard (the brand by month + every store over the year):")
        print(
            f"  from rollups:    p50 {pct(rolled_ms, 0.5):8.1f} ms   p99 {pct(rolled_ms, 0.99):8.1f} ms   ({args.repeat} reads)"
        )
        print(
            f"  from raw orders: p50 {pct(raw_ms, 0.5):8.1f} ms   p99 {pct(raw_ms, 0.99):8.1f} ms   ({args.raw_repeat} reads)"
        )
        print(f"  rollups are {ratio:.0f}x faster (median vs median)", flush=True)
        p99 = pct(rolled_ms, 0.99)
        figure("one-year dashboard from rollups, p99", measured=round(p99, 1), aim="< 100", unit="ms", ok=p99 < 100)
        # The issue sets its aims at 500 stores, 2M members, 10M orders: at a smaller size (make bench) the raw
        # aggregate is fast too and the ratio only shows; the full-size figures come from the command above.
        full = args.stores >= 500 and args.members >= 2_000_000 and args.orders >= 10_000_000
        figure(
            "one-year dashboard, raw orders / rollups (median)" + ("" if full else f", {args.orders:,} orders"),
            measured=round(ratio, 1),
            aim=">= 50" if full else "(judged at 10M orders)",
            unit="x",
            ok=ratio >= 50 or not full,
        )

        if args.day_orders is None:
            args.day_orders = min(10_000, max(args.members // 200, 100))
        if args.day_orders:
            rng = random.Random(11)
            day = date_to + dt.timedelta(days=1)
            sizes = (args.day_orders, 4 * args.day_orders)
            nightly(day, rows=sizes[0] // 10, stores=args.stores, members=args.members, rng=rng)  # warm
            runs = [nightly(day, rows=n, stores=args.stores, members=args.members, rng=rng) for n in sizes]
            print(f"nightly rollup of one new day ({day}, rollup_day), after {args.days} days of history:")
            for rows, (total, snap, read) in zip(sizes, runs, strict=True):
                print(
                    f"  {rows:>9,} orders: {total:8.1f} ms ({total / rows * 1000:.1f} ms per 1,000 orders), "
                    f"of which {snap:6.1f} ms the window snapshots (active 30/90, churned); "
                    f"{read:,} table rows read ({read / rows:.1f} per order)"
                )
            per_order = [read / rows for rows, (_, _, read) in zip(sizes, runs, strict=True)]
            figure(
                f"nightly rollup, rows read per order: {sizes[1]:,} vs {sizes[0]:,} orders that day",
                measured=round(per_order[1] / per_order[0], 2),
                aim="0.9 to 1.1 (below: rows read whatever the day holds)",
                unit="x",
                ok=0.9 <= per_order[1] / per_order[0] <= 1.1,
            )
            growth = runs[1][0] / runs[0][0]
            figure(
                f"nightly rollup time, {sizes[1]:,} vs {sizes[0]:,} orders that day",
                measured=round(growth, 2),
                aim="<= 4.4 (4x the rows; less: cache warmth)",
                unit="x the time",
                ok=growth <= 4.4,
            )
            figure(
                f"nightly rollup of {sizes[1]:,} orders",
                measured=round(runs[1][0]),
                aim="(context)",
                unit="ms",
                ok=True,
            )
    connection.set_schema_to_public()


if __name__ == "__main__":
    main()
