"""bench/payout: a month-end run for many brands — the rights market's settlement close, then each brand's
commission payout run — beside bare SQL doing the same sums and inserts, measured in the same run.

    .venv/bin/python bench/payout.py [--brands 500] [--partners 8] [--lines 40000]
                                     [--shop-brands 500] [--guides 10] [--entries 400]

Settlement (public rows only, as bench/settlement): `--brands` brands trading with `--partners` others,
`--lines` clearing lines in one month; statements_close_month vs the bare netting aggregate + the bare UPDATE
attaching every line (bench/settlement's two baselines, summed).

Payout: `--shop-brands` brands with a schema each (cloned once, kept in this bench's database between runs; their
rows are wiped and made anew every run), each with `--guides` guides and `--entries` payable commission entries
of that month (one in ten partly refunded). Per brand, in its schema:
- ekr: commission_payouts_prepare(month), then commission_payout_approve and commission_payout_pay(offline) of
  every payout (what HQ's console does);
- bare SQL: one statement that sums each guide's payable commission, inserts the guide's payout as paid and
  attaches the entries to it (run first, in a transaction rolled back, so both see the same rows).
Prints the time per brand (mean, p50, p95) and in total, and the ratios. The two runs' payout totals are checked
equal.

Uses a database and Redis db of its own (`<db>_bench_payout`, Redis db 9), migrated on first use. The machine
may be busy: read the ratios, not the absolute times.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import _owndb

DB_NAME = _owndb.use("payout", redis_db=9)

from _market_seed import BARE_SQL, MONTH, NEXT, cleanup, make_brands, make_lines, make_pairs  # noqa: E402
from _report import figure  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from members.models import Guide, Store  # noqa: E402
from miniprograms.models import CommissionEntry, CommissionPayout, Order  # noqa: E402
from miniprograms.services.payouts import (  # noqa: E402
    commission_payout_approve,
    commission_payout_pay,
    commission_payouts_prepare,
)
from rights_market.models import ClearingLine  # noqa: E402
from rights_market.services.settlement import statements_close_month  # noqa: E402
from tenants.models import Brand  # noqa: E402
from tenants.services import brand_create  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
PAYABLE_AT = datetime(MONTH.year, MONTH.month, 10, tzinfo=SHANGHAI)
SLUG = "bpay{:04d}"
WIPE = (
    "miniprograms_commissionclawback, miniprograms_commissionentry, miniprograms_commissionpayout, "
    "miniprograms_orderevent, miniprograms_orderline, miniprograms_order, members_guide"
)
ENTRY, PAYOUT = CommissionEntry._meta.db_table, CommissionPayout._meta.db_table
BARE_PAYOUT_SQL = f"""
    WITH due AS (
        SELECT guide_id, SUM(amount_fen - reversed_fen) AS fen
        FROM {ENTRY}
        WHERE status = 'payable' AND payout_id IS NULL AND payable_at < %(end)s
        GROUP BY guide_id
    ), made AS (
        INSERT INTO {PAYOUT} (guide_id, month, number, commission_fen, clawback_fen, amount_fen, status, method,
                              wechat_payment_no, last_error, created_at, approved_at, paid_at, transfer_attempt,
                              transfer_bill_no, transfer_state, transfer_package_info)
        SELECT guide_id, %(month)s, 'B' || guide_id, fen, 0, fen, 'paid', 'offline', '', '', now(), now(), now(),
               0, '', '', ''
        FROM due
        RETURNING id, guide_id, amount_fen
    ), attached AS (
        UPDATE {ENTRY} e SET payout_id = made.id
        FROM made
        WHERE e.guide_id = made.guide_id AND e.status = 'payable' AND e.payout_id IS NULL AND e.payable_at < %(end)s
        RETURNING e.id
    )
    SELECT (SELECT COUNT(*) FROM made), (SELECT COALESCE(SUM(amount_fen), 0) FROM made), (SELECT COUNT(*) FROM attached)
"""


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


# --- settlement ---------------------------------------------------------------------------------------------


def settlement(args, rng) -> dict:
    connection.set_schema_to_public()
    statements_close_month(month=NEXT)  # a run that died before its clean-up: its lines out of the way
    tag = uuid.uuid4().hex[:5]
    brands = make_brands(args.brands, tag)
    ids = [b.pk for b in brands]
    try:
        pairs = make_pairs(brands, args.partners, rng)
        make_lines(pairs, args.lines, MONTH, rng, tag)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ClearingLine._meta.db_table)
        with transaction.atomic():  # the bare run: the sums, and every line attached; rolled back
            started = time.perf_counter()
            with connection.cursor() as cursor:
                cursor.execute(BARE_SQL, [MONTH, ids])
                rows = cursor.fetchall()
                cursor.execute(
                    f"UPDATE {ClearingLine._meta.db_table} SET statement_id = NULL WHERE payer_id = ANY(%s)", [ids]
                )
            bare_s = time.perf_counter() - started
            transaction.set_rollback(True)
        statements, close_s = timed(lambda: statements_close_month(month=MONTH))
        assert len(statements) == len(rows), (len(statements), len(rows))
        return {"close_s": close_s, "bare_s": bare_s, "statements": len(statements), "pairs": len(pairs) // 2}
    finally:
        cleanup(ids)


# --- payouts ------------------------------------------------------------------------------------------------


def shop_brands(n: int) -> list[Brand]:
    """The bench's brands with a schema, made (cloned) the first time only."""
    connection.set_schema_to_public()
    have = {b.slug: b for b in Brand.objects.filter(slug__in=[SLUG.format(i) for i in range(n)])}
    made = 0
    for i in range(n):
        slug = SLUG.format(i)
        if slug not in have:
            have[slug] = brand_create(slug=slug, name=f"Bench payout {i}")
            made += 1
            connection.set_schema_to_public()
    if made:
        print(f"  made {made} brand schemas (kept for later runs)", flush=True)
    return [have[SLUG.format(i)] for i in range(n)]


def seed_brand(brand: Brand, guides: int, entries: int, rng: random.Random) -> None:
    connection.set_tenant(brand)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {WIPE} CASCADE")
        store, _ = Store.objects.get_or_create(code="S1", defaults={"name": "Bench store"})
        team = Guide.objects.bulk_create(
            [Guide(name=f"G{g}", employee_no=f"E{brand.pk}-{g}", store=store) for g in range(guides)]
        )
        orders = Order.objects.bulk_create(
            [
                Order(
                    number=f"B{brand.pk}-{n}",
                    store=store,
                    status=Order.Status.PAID,
                    subtotal_fen=10_000,
                    total_fen=10_000,
                    paid_at=PAYABLE_AT - timedelta(days=7),
                )
                for n in range(entries)
            ]
        )
        rows = []
        for order in orders:
            amount = rng.randint(100, 3000)
            rows.append(
                CommissionEntry(
                    guide=team[rng.randrange(guides)],
                    order=order,
                    store=store,
                    amount_fen=amount,
                    reversed_fen=amount // 3 if rng.random() < 0.1 else 0,
                    status=CommissionEntry.Status.PAYABLE,
                    payable_at=PAYABLE_AT,
                )
            )
        CommissionEntry.objects.bulk_create(rows)
        cursor.execute(f"ANALYZE {ENTRY}")


def bare_payout(brand: Brand) -> tuple[tuple, float]:
    connection.set_tenant(brand)
    end = datetime(NEXT.year, NEXT.month, 1, tzinfo=SHANGHAI)
    with transaction.atomic():
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(BARE_PAYOUT_SQL, {"end": end, "month": MONTH})
            result = cursor.fetchone()
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return result, seconds


def ekr_payout(brand: Brand) -> tuple[tuple, float]:
    connection.set_tenant(brand)
    started = time.perf_counter()
    payouts = commission_payouts_prepare(month=MONTH)
    total = 0
    for payout in payouts:
        payout = commission_payout_approve(payout=payout, actor_id=1)
        total += commission_payout_pay(payout=payout, actor_id=1, method=CommissionPayout.Method.OFFLINE).amount_fen
    seconds = time.perf_counter() - started
    attached = CommissionEntry.objects.filter(payout__isnull=False).count()
    return (len(payouts), total, attached), seconds


def _spread(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"mean {statistics.mean(values) * 1000:7.1f} ms  p50 {statistics.median(values) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brands", type=int, default=500)
    parser.add_argument("--partners", type=int, default=8)
    parser.add_argument("--lines", type=int, default=40_000)
    parser.add_argument("--shop-brands", type=int, default=500)
    parser.add_argument("--guides", type=int, default=10)
    parser.add_argument("--entries", type=int, default=400)
    args = parser.parse_args()
    rng = random.Random(16)
    print(f"database {DB_NAME}", flush=True)

    s = settlement(args, rng)
    print(f"settlement: {args.brands} brands, {s['pairs']} pairs, {args.lines} lines, {s['statements']} statements")
    print(
        f"  close month   {s['close_s']:8.3f} s  ({s['close_s'] / args.brands * 1000:.2f} ms per brand)"
        f"   bare SQL {s['bare_s']:8.3f} s   close = {s['close_s'] / s['bare_s']:.1f}x bare"
    )

    brands = shop_brands(args.shop_brands)
    seed_s = 0.0
    ekr_times, bare_times = [], []
    payouts = paid = 0
    for brand in brands:
        _, took = timed(lambda b=brand: seed_brand(b, args.guides, args.entries, rng))
        seed_s += took
        bare, bare_s = bare_payout(brand)
        ours, ekr_s = ekr_payout(brand)
        assert ours == bare, (brand.slug, ours, bare)
        bare_times.append(bare_s)
        ekr_times.append(ekr_s)
        payouts += ours[0]
        paid += ours[1]
    connection.set_schema_to_public()
    ekr_total, bare_total = sum(ekr_times), sum(bare_times)
    ratio = ekr_total / bare_total
    print(
        f"payout: {len(brands)} brands x {args.guides} guides x {args.entries} entries "
        f"(seeded in {seed_s:.1f} s): {payouts} payouts, {paid / 100:,.2f} yuan"
    )
    print(f"  ekr        total {ekr_total:8.3f} s   per brand {_spread(ekr_times)}")
    print(f"  bare SQL   total {bare_total:8.3f} s   per brand {_spread(bare_times)}")
    print(f"  ekr = {ratio:.1f}x bare SQL")
    month_end = s["close_s"] + ekr_total
    print(f"month end (close + payouts of {len(brands)} brands): {month_end:.2f} s")
    close_ms = s["close_s"] / args.brands * 1000
    close_x = s["close_s"] / s["bare_s"]
    figure("settlement close, per brand", measured=close_ms, aim="< 5", unit="ms", ok=close_ms < 5)
    figure("settlement close vs bare SQL", measured=close_x, aim="<= 5", unit="x bare SQL", ok=close_x <= 5)
    per_brand = statistics.mean(ekr_times) * 1000
    figure("payout run, per brand", measured=per_brand, aim="< 500", unit="ms", ok=per_brand < 500)
    figure("payout run vs bare SQL", measured=ratio, aim="<= 30", unit="x bare SQL", ok=ratio <= 30)


if __name__ == "__main__":
    main()
