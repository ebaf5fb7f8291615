"""bench/market: rights market redemptions end to end, beside baselines measured in the same run.

    .venv/bin/python bench/market.py [--seconds 20] [--members 32] [--worker-concurrency 8]

End to end: 32 members of 3 accepting brands, each in its own thread, redeem one offer of a 4th brand through the
member API (POST /api/v1/market/mp/exchanges on their brand's host) and wait until their exchange is fulfilled;
a real Celery worker subprocess drives the steps (debit points in the member's brand, take stock, voucher in
the issuer's schema, clearing line). Reports redemptions/s and request -> fulfilled voucher time (p50, p99).

Baselines, same brands, same 32 threads:
- inline: the same services (request + every step) called in the member's thread: no HTTP, no broker;
- bare SQL: only the three statements a redemption cannot do without (conditional balance UPDATE, conditional
  stock UPDATE, voucher INSERT), one transaction each: no ledger, no state machine.

Uses a database and a Redis db of its own (`<db>_bench_market`, Redis db 11), migrated on first use; the
brands it makes are dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")
os.environ["DJANGO_DEBUG"] = "0"

from ekr.devservices import load_service_env  # noqa: E402

load_service_env(ROOT)


def _own_services() -> str:
    """Point DATABASE_URL and REDIS_URL at the bench's own database and Redis db (inherited by the worker)."""
    db = urlsplit(os.environ["DATABASE_URL"])
    name = db.path.lstrip("/") + os.environ.get("EKR_BENCH_DB_SUFFIX", "_bench_market")
    os.environ["DATABASE_URL"] = urlunsplit(db._replace(path="/" + name))
    redis = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(redis._replace(path="/" + os.environ.get("EKR_BENCH_REDIS_DB", "11")))
    os.environ.pop("CELERY_BROKER_URL", None)
    return name


DB_NAME = _own_services()


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
from django.db import connection, connections  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from members.mp_auth import member_token_issue  # noqa: E402
from rights_market.brandside.models import Voucher  # noqa: E402
from rights_market.models import Exchange  # noqa: E402
from rights_market.services import exchanges as svc  # noqa: E402
from rights_market.services.catalogue import listing_create, offer_publish  # noqa: E402
from tenants.models import Brand, Domain  # noqa: E402
from tenants.services import brand_create  # noqa: E402


def provision(members: int):
    from members.models import Member
    from points.services import points_earn

    tag = uuid.uuid4().hex[:6]
    issuer = brand_create(slug=f"benchiss{tag}", name="Bench issuer")
    acceptors = [brand_create(slug=f"benchacc{i}{tag}", name=f"Bench acceptor {i}") for i in range(3)]
    connection.set_schema_to_public()
    offer = offer_publish(
        issuer=issuer,
        total_stock=10_000_000,
        kind="coupon",
        title="Bench coupon",
        face_value_fen=1000,
        settlement_price_fen=100,
        per_member_limit=30000,
    )
    listings = {b.pk: listing_create(brand=b, offer_id=offer.pk, points_price=1) for b in acceptors}
    people = []
    for i in range(members):
        brand = acceptors[i % 3]
        with schema_context(brand.schema_name):
            member = Member.objects.create(openid=f"bench-{tag}-{i}")
            points_earn(member=member, points=10_000_000, idempotency_key=f"bench-seed-{member.pk}", reason="bench")
        people.append((brand, member))
    connection.set_schema_to_public()
    return issuer, acceptors, offer, listings, people


def drop(brands) -> None:
    """Drop the run's brands: their market rows, schemas and registry rows (the bench database is its own)."""
    from rights_market.models import ClearingLine, Listing, MemberTake, Offer, Statement

    connection.set_schema_to_public()
    ids = [b.pk for b in brands]
    ClearingLine.objects.filter(payer_id__in=ids).delete()
    Statement.objects.filter(payer_id__in=ids).delete()
    Exchange.objects.filter(accepting_brand_id__in=ids).delete()
    MemberTake.objects.filter(brand_id__in=ids).delete()
    Listing.objects.filter(brand_id__in=ids).delete()
    Offer.objects.filter(issuer_id__in=ids).delete()
    for brand in brands:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{brand.schema_name}" CASCADE')
        Domain.objects.filter(tenant=brand).delete()
        Brand.objects.filter(pk=brand.pk).delete()


def start_worker(concurrency: int) -> subprocess.Popen:
    log = (
        open(ROOT / ".data" / "bench-market-worker.log", "wb")
        if (ROOT / ".data").is_dir()
        else open("/tmp/bench-market-worker.log", "wb")
    )
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ekr",
            "worker",
            "--loglevel=WARNING",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    import redis
    from celery import current_app

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # ready when it answers a ping
        if current_app.control.ping(timeout=0.5):
            return proc
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited; see {log.name}")
    raise RuntimeError(f"worker did not start; see {log.name}")


def stop_worker(proc: subprocess.Popen) -> None:
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def run_threads(people, seconds: float, one) -> tuple[int, list[float], float]:
    """Each member in its own thread calls `one(index, brand, member)` in a loop for `seconds`."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = [0.0]
    start_gate = threading.Barrier(len(people) + 1)

    def loop(index, brand, member):
        mine = []
        try:
            start_gate.wait()
            n = 0
            while time.monotonic() < stop_at[0]:
                t0 = time.monotonic()
                one(index, n, brand, member)
                mine.append(time.monotonic() - t0)
                n += 1
        finally:
            with lock:
                latencies.extend(mine)
            connection.set_schema_to_public()
            connections.close_all()

    threads = [threading.Thread(target=loop, args=(i, b, m)) for i, (b, m) in enumerate(people)]
    for t in threads:
        t.start()
    stop_at[0] = time.monotonic() + seconds
    began = time.monotonic()
    start_gate.wait()
    for t in threads:
        t.join()
    return len(latencies), latencies, time.monotonic() - began


def end_to_end(listings, people, run_id: str):
    tokens = [member_token_issue(schema=b.schema_name, appid=f"wx{b.slug}", openid=m.openid) for b, m in people]

    def one(index, n, brand, member):
        client = APIClient(HTTP_HOST=f"{brand.slug}.{django.conf.settings.EKR_BASE_DOMAIN}")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens[index]}")
        response = client.post(
            "/api/v1/market/mp/exchanges",
            {"listing_id": listings[brand.pk].pk, "request_key": f"{run_id}-{index}-{n}"},
            format="json",
        )
        if response.status_code != 202:
            raise RuntimeError(f"redeem answered {response.status_code}: {response.content[:200]}")
        exchange_id = response.json()["id"]
        connection.set_schema_to_public()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = Exchange.objects.filter(pk=exchange_id).values_list("status", flat=True).get()
            if status == Exchange.Status.FULFILLED:
                return
            if status == Exchange.Status.UNDONE:
                raise RuntimeError(f"exchange {exchange_id} undone")
            time.sleep(0.025)  # polling is load on the same machine: keep it light
        raise RuntimeError(f"exchange {exchange_id} not fulfilled in 60 s")

    return one


def inline(listings, people, run_id: str):
    def one(index, n, brand, member):
        with schema_context(brand.schema_name):
            exchange = svc.exchange_request(
                brand=brand, member=member, listing_id=listings[brand.pk].pk, request_key=f"{run_id}-{index}-{n}"
            )
        connection.set_schema_to_public()
        if svc.exchange_advance(exchange_id=exchange.pk) != svc.Outcome.DONE:
            raise RuntimeError("not done")

    return one


def bare_sql(issuer, offer, people):
    from points.models import PointsAccount

    account_table = PointsAccount._meta.db_table
    voucher_table = Voucher._meta.db_table
    counter = iter(range(1, 10**9))
    counter_lock = threading.Lock()

    def one(index, n, brand, member):
        from django.db import transaction
        from django.utils import timezone

        with counter_lock:
            fake_exchange = -next(counter) - index * 10**7
        now = timezone.now()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                f'UPDATE "{brand.schema_name}".{account_table} SET balance = balance - 1, updated_at = %s '
                "WHERE member_id = %s AND balance >= 1 RETURNING balance",
                [now, member.pk],
            )
            assert cur.fetchone()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                "UPDATE rights_market_offer SET remaining_stock = remaining_stock - 1 "
                "WHERE id = %s AND remaining_stock > 0 RETURNING remaining_stock",
                [offer.pk],
            )
            assert cur.fetchone()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(
                f'INSERT INTO "{issuer.schema_name}".{voucher_table} (exchange_id, offer_id, '
                "accepting_brand_id, code, title, kind, face_value_fen, valid_until, status, "
                "claim_made_member, order_amount_fen, created_at) "
                "VALUES (%s, %s, %s, %s, 'bench', 'coupon', 1000, %s, 'issued', false, 0, %s)",
                [fake_exchange, offer.pk, brand.pk, uuid.uuid4().hex[:20], now, now],
            )

    return one


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def line(name: str, count: int, latencies: list[float], wall: float) -> str:
    return (
        f"  {name:<34} {count:6d} redemptions  {count / wall:8.1f}/s   "
        f"p50 {pct(latencies, 50) * 1000:7.1f} ms   p99 {pct(latencies, 99) * 1000:7.1f} ms   "
        f"(mean {statistics.fmean(latencies) * 1000:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--worker-concurrency", type=int, default=8)
    args = parser.parse_args()

    t0 = time.monotonic()
    call_command("bootstrap", verbosity=0)
    issuer, acceptors, offer, listings, people = provision(args.members)
    setup_s = time.monotonic() - t0
    run_id = uuid.uuid4().hex[:8]
    worker = start_worker(args.worker_concurrency)
    try:
        e2e = run_threads(people, args.seconds, end_to_end(listings, people, run_id))
    finally:
        stop_worker(worker)
    inl = run_threads(people, args.seconds / 2, inline(listings, people, run_id + "i"))
    bare = run_threads(people, args.seconds / 2, bare_sql(issuer, offer, people))
    server_side = [
        (f - r).total_seconds()
        for r, f in Exchange.objects.filter(
            offer=offer, status=Exchange.Status.FULFILLED, request_key__startswith=run_id + "-"
        ).values_list("requested_at", "fulfilled_at")
    ]
    fulfilled = Exchange.objects.filter(offer=offer, status=Exchange.Status.FULFILLED).count()
    open_or_undone = Exchange.objects.filter(offer=offer).exclude(status=Exchange.Status.FULFILLED).count()
    drop([issuer, *acceptors])

    print(
        f"bench/market ({args.members} members across 3 brands, one offer of a 4th; "
        f"worker concurrency {args.worker_concurrency}; {os.cpu_count()} CPUs; setup {setup_s:.1f} s)"
    )
    print("  request -> fulfilled voucher, each member waits for its own before the next:")
    print(line("end to end (API + Celery worker)", *e2e))
    print(
        f"  {'  same, server clock (requested_at -> fulfilled_at)':<54} p50 {pct(server_side, 50) * 1000:7.1f} ms   "
        f"p99 {pct(server_side, 99) * 1000:7.1f} ms"
    )
    print(line("baseline: same steps inline", *inl))
    print(line("baseline: bare SQL of the steps", *bare))
    print(f"  check: {fulfilled} exchanges fulfilled, {open_or_undone} not fulfilled")


if __name__ == "__main__":
    main()
