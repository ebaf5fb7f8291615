"""bench/settlement: a month-end settlement run of the rights market, beside a baseline measured in the same run.

    .venv/bin/python bench/settlement.py [--brands 500] [--partners 8] [--lines 40000]

Makes `--brands` brands (public rows only: settlement never enters a brand's schema), each trading with
`--partners` others in both directions, and `--lines` fulfilled exchanges with their clearing lines spread over
those pairs in one month. Then times:
- close: statements_close_month for that month (one netted statement per pair, its lines attached);
- close again: the same month a second time (every pair already closed: nothing changes);
- late: 1% more lines for the closed month, then closing the next month (they go into its statements).

Baselines, same lines, same run:
- bare read: the netting aggregate in SQL (GROUP BY the unordered pair, both directions' sums and the count),
  no statements written, no lines attached: the least a month-end run has to read;
- bare write: one UPDATE of every line's statement_id (detaching them all again after the run): the least a
  month-end run has to write.

Uses a database of its own (`<db>_bench_settlement`), migrated on first use; the rows it makes are deleted at
the end.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid

import _owndb

DB_NAME = _owndb.use("settlement", redis_db=12)

from _market_seed import BARE_SQL, MONTH, NEXT, cleanup, make_brands, make_lines, make_pairs  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from rights_market.models import ClearingLine  # noqa: E402
from rights_market.services.settlement import statements_close_month  # noqa: E402


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brands", type=int, default=500)
    parser.add_argument("--partners", type=int, default=8)
    parser.add_argument("--lines", type=int, default=40_000)
    args = parser.parse_args()
    connection.set_schema_to_public()
    # a run that died before its clean-up leaves unsettled lines of its brands: settle them out of the way
    statements_close_month(month=NEXT)
    rng = random.Random(16)
    tag = uuid.uuid4().hex[:5]
    brands = make_brands(args.brands, tag)
    ids = [b.pk for b in brands]
    try:
        pairs = make_pairs(brands, args.partners, rng)
        _, seed_s = timed(lambda: make_lines(pairs, args.lines, MONTH, rng, tag))
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ClearingLine._meta.db_table)
        bare_rows, bare_s = timed(lambda: _bare(ids))
        statements, close_s = timed(lambda: statements_close_month(month=MONTH))
        again, again_s = timed(lambda: statements_close_month(month=MONTH))
        late_n = max(1, args.lines // 100)
        make_lines(pairs, late_n, MONTH, rng, tag + "l")
        late, late_s = timed(lambda: statements_close_month(month=NEXT))
        attached = ClearingLine.objects.filter(payer_id__in=ids, statement__isnull=False).count()
        assert len(statements) == len(bare_rows), (len(statements), len(bare_rows))
        assert again == [] and attached == args.lines + late_n
        with transaction.atomic(), connection.cursor() as cursor:
            started = time.perf_counter()
            cursor.execute(
                f"UPDATE {ClearingLine._meta.db_table} SET statement_id = NULL WHERE payer_id = ANY(%s)", [ids]
            )
            write_s = time.perf_counter() - started
        net = sum(s.total_fen for s in statements)
        gross = sum(r[2] or 0 for r in bare_rows) + sum(r[3] or 0 for r in bare_rows)
        print(
            f"settlement: {args.brands} brands, {len(pairs) // 2} pairs, {args.lines} lines (seeded in {seed_s:.1f} s)"
        )
        print(
            f"  close month       {close_s:8.3f} s  {len(statements)} statements, "
            f"{args.lines / close_s:,.0f} lines/s, {close_s / len(statements) * 1000:.2f} ms/pair"
        )
        print(f"  bare read         {bare_s:8.3f} s  (baseline; close = {close_s / bare_s:,.1f}x)")
        print(f"  bare write        {write_s:8.3f} s  (baseline, {attached} lines; close = {close_s / write_s:,.1f}x)")
        print(f"  close again       {again_s:8.3f} s  (nothing changes)")
        print(
            f"  late lines        {late_s:8.3f} s  {late_n} lines of the closed month into {len(late)} "
            f"statements of the next"
        )
        print(f"  gross {gross / 100:,.2f} yuan netted to {net / 100:,.2f} yuan payable")
    finally:
        cleanup(ids)


def _bare(ids):
    with connection.cursor() as cursor:
        cursor.execute(BARE_SQL, [MONTH, ids])
        return cursor.fetchall()


if __name__ == "__main__":
    main()
