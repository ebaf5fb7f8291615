"""bench/market: rights market redemptions end to end, beside baselines measured in the same run.

    .venv/bin/python bench/market.py [--seconds 20] [--members 32] [--worker-concurrency 4]
    .venv/bin/python bench/market.py --profile 300          # cProfile of the inline path, one thread, top 30
    py-spy record --gil --subprocesses --format raw -o /tmp/market-web.txt --pid <gunicorn master pid>  # during a run
    py-spy record -o /tmp/market-worker.svg --subprocesses --pid <celery worker pid>   # the worker, during a run

End to end: gunicorn (2 processes x 8 threads, gthread, bench/settings_market.py) serves the real API; 32 members
of 3 accepting brands, each in its own thread, redeem one offer of a 4th brand (POST /api/v1/market/mp/exchanges
on their brand's host over HTTP) and wait until their exchange is fulfilled (a plain SELECT of its status every
10 ms on the thread's own connection). A voucher offer is redeemed in the request (rights_market.services.redeem:
one statement, public.market_redeem, debits the member in their brand, issues the voucher in the issuer's schema,
writes the exchange fulfilled, its clearing line, the member's count and the stock); a real Celery worker
subprocess runs for what is left to it (provider codes, coupon templates: none in this offer). Reports request ->
fulfilled voucher time (p50, p99): with every member waiting for its own before the next, 32 / throughput is the
mean.

Baselines, same brands, same 32 threads:
- the redemption request alone over HTTP (no worker running): our DRF endpoint vs a plain Django function view
  doing the same reads and writes through the ORM in one transaction (bench/urls_market.py);
- inline: the same service the endpoint calls (exchange_redeem, then the driver if anything were left), in the
  member's thread: no HTTP, no broker;
- bare SQL: only the three statements a redemption cannot do without (conditional balance UPDATE, conditional
  stock UPDATE, voucher INSERT), one transaction each: no ledger, no state machine.

Uses a database and a Redis db of its own (`<db>_bench_market`, Redis db 11; bench/_owndb.py), migrated when
behind; the brands it makes are dropped at the end. Judged figures go through bench/_report.figure().

Issue 17, profiles and figures (2 CPUs shared with 4 other sessions; load average 1 to 16 during the runs):

- before (the worker drove four transactions a redemption: debit, stock, voucher, each re-reading and locking
  the exchange, switching search paths; the request read the request key, then the listing, then INSERTed):
  inline 70/s vs bare 467/s (0.149x); end to end p50 1,450 ms, p99 2,358 ms, 20/s; CPU a redemption web 8.6 ms
  + worker 11.3 ms. cProfile, 300 inline redemptions, one thread: 18.7 ms each, 19 statements and 3 COMMITs
  each; cumulative: exchange_advance 11.9 ms (_fulfil_by_voucher 5.3, _step_debit 3.5, _step_take_stock 1.9),
  exchange_request 6.7 ms; QuerySet.first (ORM compile + execute) 9.0 ms of it, psycopg2 execute 4.5 ms,
  commit 0.9 ms, SQLCompiler.as_sql 4.9 ms.
- after public.market_redeem (one statement in the request, nothing for the worker): cProfile 14.0 ms, two
  statements; request_checked's ORM read 8.9 ms of it (as_sql 3.0 ms: three Subquery annotations compiled per
  call). py-spy --gil of gunicorn during the end-to-end round: request_checked 37% of the web CPU, the
  session's Member read 16%, DRF rendering 5%.
- after the listing read became one SQL statement written once: cProfile 3.8 ms a redemption (psycopg2 execute
  3.1 ms of it: waiting on PostgreSQL); inline 387/s vs bare 756/s (0.51x); end to end p50 176 ms, p99 893 ms,
  156/s; CPU a redemption web 4.1 ms, worker 0.
- the same code, default command, load average 4 to 8: inline 376/s vs bare 623/s (0.60x); end to end p50 175 ms,
  p99 522 ms, 185/s, web CPU 3.7 ms; DRF endpoint 182/s vs the plain Django view 71/s (2.6x: the view's ORM
  writes are ~20 statements). A provider's offer (the worker calls the provider after the request): p50 967 ms,
  p99 1,232 ms at 33/s with 4 worker processes, worker CPU 11.6 ms; py-spy of the worker: the state machine's
  ORM reads and locks (_head 17%, _locked 18%, the exchange with offer and provider 12%) over the provider call
  (11%); tasks are picked up at once (no sleep or poll in the worker; queueing behind 4 processes is the wait).
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _owndb
from _http import Client, free_port, group_cpu, start_gunicorn, stop_group

DB_NAME = _owndb.use("market", redis_db=11)

import django  # noqa: E402
from _report import figure  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, connections  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

from members.mp_auth import member_token_issue  # noqa: E402
from rights_market.brandside.models import Voucher  # noqa: E402
from rights_market.models import Exchange  # noqa: E402
from rights_market.services import exchanges as svc  # noqa: E402
from rights_market.services.catalogue import listing_create, offer_publish  # noqa: E402
from rights_market.services.redeem import exchange_redeem  # noqa: E402
from tenants.models import Brand, Domain  # noqa: E402
from tenants.services import brand_create  # noqa: E402

ROOT = _owndb.ROOT


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


def provision_virtual(issuer, acceptors, provider) -> tuple:
    """A virtual offer of the issuer, fulfilled by the fake provider on loopback (tests/rights_market/
    fake_provider.py), listed by every acceptor: the one kind of redemption the worker still finishes."""
    from rights_market.models import Provider

    slug = f"bench{issuer.slug[-6:]}"
    Provider.objects.create(name="Bench provider", slug=slug, base_url=provider.base_url, api_key=provider.key)
    offer = offer_publish(
        issuer=issuer,
        total_stock=10_000_000,
        kind="virtual",
        title="Bench video month",
        provider_slug=slug,
        provider_sku="vip-1m",
        settlement_price_fen=100,
        per_member_limit=30000,
    )
    return offer, {b.pk: listing_create(brand=b, offer_id=offer.pk, points_price=1) for b in acceptors}


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
    from rights_market.models import Provider

    Provider.objects.filter(slug__in=[f"bench{b.slug[-6:]}" for b in brands]).delete()
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
    stop_group(proc)


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


def requests_only(port: int, listings, people, run_id: str, path: str):
    """The redemption request alone, over HTTP, to `path` (no worker: the exchanges stay requested)."""
    tokens = [member_token_issue(schema=b.schema_name, appid=f"wx{b.slug}", openid=m.openid) for b, m in people]
    clients = {}

    def one(index, n, brand, member):
        client = clients.get(index) or clients.setdefault(
            index, Client(port, f"{brand.slug}.{django.conf.settings.EKR_BASE_DOMAIN}", tokens[index])
        )
        status, data = client.post(path, {"listing_id": listings[brand.pk].pk, "request_key": f"{run_id}-{index}-{n}"})
        if status != 202:
            raise RuntimeError(f"{path} answered {status}: {str(data)[:200]}")

    return one


def end_to_end(port: int, listings, people, run_id: str):
    """POST the redemption over HTTP, then wait for the exchange to be fulfilled (its status polled with a plain
    SELECT every 10 ms on the thread's own connection: the waiting costs the machine little)."""
    tokens = [member_token_issue(schema=b.schema_name, appid=f"wx{b.slug}", openid=m.openid) for b, m in people]
    clients = {}
    table = Exchange._meta.db_table

    def one(index, n, brand, member):
        client = clients.get(index) or clients.setdefault(
            index, Client(port, f"{brand.slug}.{django.conf.settings.EKR_BASE_DOMAIN}", tokens[index])
        )
        status, data = client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listings[brand.pk].pk, "request_key": f"{run_id}-{index}-{n}"}
        )
        if status != 202:
            raise RuntimeError(f"redeem answered {status}: {str(data)[:200]}")
        connection.ensure_connection()
        deadline = time.monotonic() + 60
        with connection.connection.cursor() as cur:  # the raw psycopg2 cursor: no ORM in the waiting loop
            while time.monotonic() < deadline:
                cur.execute(f"SELECT status FROM public.{table} WHERE id = %s", [data["id"]])
                connection.connection.commit()
                status = cur.fetchone()[0]
                if status == Exchange.Status.FULFILLED:
                    return
                if status == Exchange.Status.UNDONE:
                    raise RuntimeError(f"exchange {data['id']} undone")
                time.sleep(0.010)
        raise RuntimeError(f"exchange {data['id']} not fulfilled in 60 s")

    return one


def inline(listings, people, run_id: str):
    """The API's service (exchange_redeem: the checks and every step in the request), then the driver for
    what is left (nothing for this offer's vouchers): as the endpoint and the worker would, with no HTTP."""

    def one(index, n, brand, member):
        with schema_context(brand.schema_name):
            exchange = exchange_redeem(
                brand=brand, member=member, listing_id=listings[brand.pk].pk, request_key=f"{run_id}-{index}-{n}"
            )
        if exchange.status not in Exchange.TERMINAL:
            connection.set_schema_to_public()
            if svc.exchange_advance(exchange_id=exchange.pk) != svc.Outcome.DONE:
                raise RuntimeError("not done")
        if exchange.status != Exchange.Status.FULFILLED:
            raise RuntimeError(f"exchange {exchange.pk} {exchange.status}")

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


def profile_inline(listings, people, count: int) -> None:
    """cProfile of `count` inline redemptions by one member, one thread (after a warm-up)."""
    import cProfile
    import pstats

    one = inline(listings, people, uuid.uuid4().hex[:8])
    brand, member = people[0]
    for n in range(20):
        one(0, n, brand, member)
    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for n in range(count):
        one(0, 100 + n, brand, member)
    profiler.disable()
    print(f"inline, one thread: {(time.perf_counter() - began) / count * 1000:.2f} ms a redemption (under cProfile)")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--provider-seconds", type=float, default=5, help="end to end on a provider's offer")
    parser.add_argument("--profile", type=int, default=0, help="profile this many inline redemptions, then stop")
    args = parser.parse_args()

    t0 = time.monotonic()
    call_command("bootstrap", verbosity=0)
    issuer, acceptors, offer, listings, people = provision(args.members)
    setup_s = time.monotonic() - t0
    if args.profile:
        try:
            profile_inline(listings, people, args.profile)
        finally:
            drop([issuer, *acceptors])
        return
    from tests.rights_market.fake_provider import FakeProvider

    provider = FakeProvider().start()
    virtual_offer, virtual_listings = provision_virtual(issuer, acceptors, provider)
    run_id = uuid.uuid4().hex[:8]
    port = free_port()
    server = start_gunicorn(port, "bench.settings_market")
    cpu = {}
    try:
        worker = start_worker(args.worker_concurrency)
        try:
            web0, worker0 = group_cpu(server), group_cpu(worker)
            e2e = run_threads(people, args.seconds, end_to_end(port, listings, people, run_id))
            cpu["e2e web"], cpu["e2e worker"] = group_cpu(server) - web0, group_cpu(worker) - worker0
            worker0 = group_cpu(worker)
            virtual = run_threads(
                people, args.provider_seconds, end_to_end(port, virtual_listings, people, run_id + "v")
            )
            cpu["virtual worker"] = group_cpu(worker) - worker0
        finally:
            stop_worker(worker)
            provider.stop()
        half = args.seconds / 2
        web0 = group_cpu(server)
        drf = run_threads(
            people, half, requests_only(port, listings, people, run_id + "d", "/api/v1/market/mp/exchanges")
        )
        web1 = group_cpu(server)
        plain = run_threads(
            people, half, requests_only(port, listings, people, run_id + "p", "/bench/bare/market/redeem")
        )
        cpu["drf"], cpu["plain"] = web1 - web0, group_cpu(server) - web1
    finally:
        stop_group(server)
    _owndb.reset_redis()  # the requests of the request-only rounds were queued for no worker
    inl = run_threads(people, half, inline(listings, people, run_id + "i"))
    bare = run_threads(people, half, bare_sql(issuer, offer, people))
    server_side = [
        (f - r).total_seconds()
        for r, f in Exchange.objects.filter(
            offer=offer, status=Exchange.Status.FULFILLED, request_key__startswith=run_id + "-"
        ).values_list("requested_at", "fulfilled_at")
    ]
    server_virtual = [
        (f - r).total_seconds()
        for r, f in Exchange.objects.filter(
            offer=virtual_offer, status=Exchange.Status.FULFILLED, request_key__startswith=run_id + "v-"
        ).values_list("requested_at", "fulfilled_at")
    ]
    driven = Exchange.objects.filter(offer__in=[offer, virtual_offer]).exclude(request_key__regex=r"^[0-9a-f]{8}[dp]-")
    fulfilled = driven.filter(status=Exchange.Status.FULFILLED).count()
    open_or_undone = driven.exclude(status=Exchange.Status.FULFILLED).count()
    drop([issuer, *acceptors])

    print(
        f"bench/market ({args.members} members across 3 brands, one offer of a 4th; gunicorn 2x8 gthread; "
        f"worker concurrency {args.worker_concurrency}; {os.cpu_count()} CPUs; setup {setup_s:.1f} s)"
    )
    print("  request -> fulfilled voucher, each member waits for its own before the next:")
    print(line("end to end (HTTP API + Celery worker)", *e2e))
    print(
        f"  {'  same, server clock (requested_at -> fulfilled_at)':<54} p50 {pct(server_side, 50) * 1000:7.1f} ms   "
        f"p99 {pct(server_side, 99) * 1000:7.1f} ms"
    )
    print(
        f"  {'  CPU a redemption: web (gunicorn)':<54} {cpu['e2e web'] / e2e[0] * 1000:7.1f} ms   "
        f"worker {cpu['e2e worker'] / e2e[0] * 1000:7.1f} ms (load-independent-ish: PostgreSQL not counted)"
    )
    print(line("end to end, a provider's code (by the worker)", *virtual))
    print(
        f"  {'  same, server clock (requested_at -> fulfilled_at)':<54} p50 {pct(server_virtual, 50) * 1000:7.1f} ms   "
        f"p99 {pct(server_virtual, 99) * 1000:7.1f} ms   worker CPU {cpu['virtual worker'] / virtual[0] * 1000:.1f} ms"
    )
    print("  the redemption request alone over HTTP (no worker; a voucher needs none):")
    print(line("our endpoint (DRF)", *drf))
    print(line("baseline: plain Django view", *plain))
    print(
        f"  {'  web CPU a request: DRF endpoint':<54} {cpu['drf'] / drf[0] * 1000:7.1f} ms   "
        f"plain view {cpu['plain'] / plain[0] * 1000:7.1f} ms"
    )
    print(line("baseline: same steps inline", *inl))
    print(line("baseline: bare SQL of the steps", *bare))
    print(f"  check: {fulfilled} driven exchanges fulfilled, {open_or_undone} not fulfilled")
    rate = {
        name: count / wall for name, (count, _, wall) in {"inl": inl, "bare": bare, "drf": drf, "plain": plain}.items()
    }
    members = f"{args.members} members"
    figure(
        f"redemption inline vs bare SQL, {members}",
        measured=rate["inl"] / rate["bare"],
        aim=">= 0.25",
        unit="x bare",
        ok=rate["inl"] / rate["bare"] >= 0.25,
    )
    p50, p99 = pct(e2e[1], 50) * 1000, pct(e2e[1], 99) * 1000
    figure(f"redemption end to end p50, {members}", measured=p50, aim="< 250", unit="ms", ok=p50 < 250)
    figure(f"redemption end to end p99, {members}", measured=p99, aim="< 1000", unit="ms", ok=p99 < 1000)
    figure(
        f"redeem request: DRF vs plain Django view, {members}",
        measured=rate["drf"] / rate["plain"],
        aim=">= 0.8",
        unit="x plain view",
        ok=rate["drf"] / rate["plain"] >= 0.8,
    )
    if open_or_undone:
        raise SystemExit(f"{open_or_undone} driven exchanges were not fulfilled")


if __name__ == "__main__":
    main()
