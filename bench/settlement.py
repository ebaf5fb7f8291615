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
import os
import random
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")
os.environ["DJANGO_DEBUG"] = "0"

from ekr.devservices import load_service_env  # noqa: E402

load_service_env(ROOT)


def _own_database() -> str:
    db = urlsplit(os.environ["DATABASE_URL"])
    name = db.path.lstrip("/") + os.environ.get("EKR_BENCH_DB_SUFFIX", "_bench_settlement")
    os.environ["DATABASE_URL"] = urlunsplit(db._replace(path="/" + name))
    redis = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(redis._replace(path="/" + os.environ.get("EKR_BENCH_REDIS_DB", "12")))
    return name


DB_NAME = _own_database()


def _ensure_database() -> None:
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    params = {
        "dbname": "postgres",
        "user": cfg.get("USER"),
        "password": cfg.get("PASSWORD"),
        "host": cfg.get("HOST"),
        "port": cfg.get("PORT"),
    }
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()


_ensure_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from rights_market.models import ClearingLine, Exchange, Listing, Offer, Statement  # noqa: E402
from rights_market.services.settlement import statements_close_month  # noqa: E402
from tenants.models import Brand  # noqa: E402

MONTH = date(2026, 10, 1)
NEXT = date(2026, 11, 1)
BATCH = 5000


def make_brands(n: int, tag: str) -> list[Brand]:
    return Brand.objects.bulk_create(
        [Brand(slug=f"bs{tag}{i}", name=f"Bench {i}", schema_name=f"bs{tag}{i}") for i in range(n)]
    )


def make_pairs(brands: list[Brand], partners: int, rng: random.Random) -> list[tuple[Brand, Brand]]:
    """Directed (issuer, acceptor) pairs: each brand trades with `partners` others, both directions."""
    pairs = set()
    for i, brand in enumerate(brands):
        for k in range(1, partners // 2 + 1):
            other = brands[(i + k * 7) % len(brands)]
            if other.pk != brand.pk:
                pairs.add((brand, other))
                pairs.add((other, brand))
    return sorted(pairs, key=lambda p: (p[0].pk, p[1].pk))


def make_lines(pairs, n: int, month: date, rng: random.Random, tag: str) -> int:
    issuers = sorted({p[0] for p in pairs}, key=lambda b: b.pk)
    offers = {
        o.issuer_id: o
        for o in Offer.objects.bulk_create(
            [
                Offer(
                    issuer=b,
                    kind="coupon",
                    title=f"Bench {b.slug}",
                    face_value_fen=1000,
                    total_stock=10_000_000,
                    remaining_stock=10_000_000,
                    settlement_price_fen=100 + b.pk % 400,
                    status="live",
                    source_ref=tag,
                )
                for b in issuers
            ]
        )
    }
    listings = {
        (i.pk, a.pk): listing
        for (i, a), listing in zip(
            pairs,
            Listing.objects.bulk_create([Listing(brand=a, offer=offers[i.pk], points_price=100) for i, a in pairs]),
            strict=True,
        )
    }
    at = timezone.make_aware(timezone.datetime.combine(month, timezone.datetime.min.time())) + timedelta(days=3)
    made = 0
    while made < n:
        size = min(BATCH, n - made)
        chosen = [rng.choice(pairs) for _ in range(size)]
        exchanges = Exchange.objects.bulk_create(
            [
                Exchange(
                    accepting_brand=a,
                    issuer=i,
                    offer=offers[i.pk],
                    listing=listings[(i.pk, a.pk)],
                    member_id=made + j + 1,
                    request_key=f"b{tag}{made + j}",
                    points=100,
                    settlement_price_fen=offers[i.pk].settlement_price_fen,
                    status="fulfilled",
                    requested_at=at,
                    fulfilled_at=at,
                    fulfilment_ref=f"voucher:{made + j}",
                    updated_at=at,
                )
                for j, (i, a) in enumerate(chosen)
            ]
        )
        ClearingLine.objects.bulk_create(
            [
                ClearingLine(
                    exchange=e,
                    payer_id=e.accepting_brand_id,
                    payee_id=e.issuer_id,
                    offer_id=e.offer_id,
                    amount_fen=e.settlement_price_fen,
                    month=month,
                    created_at=at,
                )
                for e in exchanges
            ]
        )
        made += size
    return made


BARE_SQL = f"""
    SELECT LEAST(payer_id, payee_id), GREATEST(payer_id, payee_id),
           SUM(amount_fen) FILTER (WHERE payer_id < payee_id), SUM(amount_fen) FILTER (WHERE payer_id > payee_id),
           COUNT(*)
    FROM {ClearingLine._meta.db_table}
    WHERE statement_id IS NULL AND month <= %s AND payer_id = ANY(%s)
    GROUP BY 1, 2
"""


def timed(fn):
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def cleanup(brand_ids: list[int]) -> None:
    ClearingLine.objects.filter(payer_id__in=brand_ids).delete()
    Statement.objects.filter(brand_low_id__in=brand_ids).delete()
    Exchange.objects.filter(accepting_brand_id__in=brand_ids).delete()
    Listing.objects.filter(brand_id__in=brand_ids).delete()
    Offer.objects.filter(issuer_id__in=brand_ids).delete()
    Brand.objects.filter(pk__in=brand_ids).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brands", type=int, default=500)
    parser.add_argument("--partners", type=int, default=8)
    parser.add_argument("--lines", type=int, default=40_000)
    args = parser.parse_args()
    call_command("migrate_schemas", "--shared", verbosity=0)
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
