"""Bench: the member reads the mini-program calls most, over HTTP, beside plain Django views of the same reads.

    .venv/bin/python bench/reads.py  [--seconds 8] [--senders 8] [--products 100] [--rooms 6]

Endpoints: GET /api/v1/mp/me, /api/v1/mp/points, /api/v1/mp/shops/<id>/catalog (~100 SKUs),
/api/v1/mp/live/rooms. Each is compared with a plain Django view (bench/urls_reads.py: the same member-token check
with django.core.signing, the same rows through the ORM, JsonResponse; no DRF, no serializers, none of our layers)
served by the same gunicorn (2 processes x 8 threads, gthread, bench/settings_reads.py) through the same
middleware. For each endpoint --senders concurrent keep-alive clients (started together on a barrier) run
alternating short rounds, ours then plain, so both see the same background load of a shared machine; --seconds is
each side's total per endpoint. Prints req/s, p50/p99 and server CPU per request of both, the ratio ours/plain
(aim >= 0.8), and reports each ratio with bench/_report.figure.

Runs in its own database (<db>_bench_reads, bench/_owndb.py) on a brand of its own (benchreads<random>) and Redis
db 3 (EKR_BENCH_REDIS_DB; flushed). Provisions one member (tier, exclusive guide, home store, an encrypted phone),
points in several lots expiring over the next weeks, a shop with --products products (one SKU each, half with a
shop price), --rooms live rooms (brand's and the member's store's, one of another store, one ended).

Profile (what the issue-17 note quotes), while the bench runs, of one gunicorn worker:
    .venv/bin/py-spy record -o /tmp/reads.svg --pid <gunicorn worker pid> --duration 10 [--format raw]
or in-process, without a server:
    .venv/bin/python bench/reads.py --profile me|points|catalog|rooms   (cProfile over 2,000 test-client GETs;
                                                                         me-plain etc.: the plain view)
    .venv/bin/python bench/reads.py --profile cpu   (process CPU per request, ours and plain, in process)
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")

import _owndb  # noqa: E402
from _http import free_port, group_cpu, start_gunicorn, stop_group  # noqa: E402

BENCH_DB = _owndb.use("reads", redis_db=3)

from _report import figure  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

ROUNDS = 4
AIM = 0.8


def log(message: str) -> None:
    print(message, flush=True)


def provision(products: int, rooms: int) -> dict:
    """A brand with one member and what the four reads show. Returns slug, token and shop id."""
    from django.utils import timezone

    from livestream.models import LiveRoom
    from members.models import CardLevel, Guide, Member, Store
    from members.mp_auth import member_token_issue
    from miniprograms.models import Category, Product, Shop, ShopSku, Sku
    from points.services import points_earn
    from tenants.services import brand_create

    slug = f"benchreads{uuid.uuid4().hex[:6]}"
    brand = brand_create(slug=slug, name="Reads bench")
    connection.set_tenant(brand)
    now = timezone.now()
    store = Store.objects.create(code="R1", name="Reads store", city="Hangzhou", address="1 West Lake Rd")
    other = Store.objects.create(code="R2", name="Other store", city="Shanghai")
    guide = Guide.objects.create(name="Guide", employee_no="G1", store=store)
    CardLevel.objects.create(name="Entry", rank=1)
    gold = CardLevel.objects.create(name="Gold", rank=2, threshold_points=1000, benefits="free gift wrap")
    openid = f"o-reads-{uuid.uuid4().hex[:8]}"
    member = Member.objects.create(
        openid=openid,
        name="Reader",
        phone="13800138000",
        store=store,
        guide=guide,
        tier=gold,
        tier_since=now,
        card_state="activated",
        card_code="C0001",
    )
    for n in range(6):
        points_earn(
            member=member,
            points=100 + n,
            idempotency_key=f"reads-{n}",
            reason="order",
            reference=f"O{n}",
            expires_at=now + timedelta(days=5 * (n + 1)),
        )
    shop = Shop.objects.create(store=store, name="Reads shop")
    categories = [Category.objects.create(name=f"Category {n}", sort=n) for n in range(5)]
    for n in range(products):
        product = Product.objects.create(
            name=f"Product {n}", category=categories[n % 5], image_urls=[f"https://img.example/{n}.jpg"]
        )
        sku = Sku.objects.create(product=product, code=f"SKU-{n:04d}", price_fen=1000 + n, attributes={"size": "M"})
        ShopSku.objects.create(shop=shop, sku=sku, price_fen=900 + n if n % 2 else None, stock=50 + n)
    for n in range(rooms):
        LiveRoom.objects.create(
            name=f"Room {n}",
            source="external",
            external_url="https://live.example/r",
            store=None if n % 3 == 0 else (store if n % 3 == 1 else other),
            status="ended" if n == rooms - 1 else ("live" if n % 2 else "upcoming"),
            anchor_name="Anchor",
            start_at=now + timedelta(hours=n),
            end_at=now + timedelta(hours=n + 2),
        )
    token = member_token_issue(schema=brand.schema_name, appid="wxreads", openid=openid)
    connection.set_schema_to_public()
    _owndb.reset_redis()
    return {"slug": slug, "token": token, "shop_id": shop.pk}


def endpoints(shop_id: int) -> list[tuple[str, str, str]]:
    return [
        ("me", "/api/v1/mp/me", "/bench/plain/me"),
        ("points", "/api/v1/mp/points", "/bench/plain/points"),
        ("catalog", f"/api/v1/mp/shops/{shop_id}/catalog", f"/bench/plain/shops/{shop_id}/catalog"),
        ("rooms", "/api/v1/mp/live/rooms", "/bench/plain/live/rooms"),
    ]


# --- server and load ---------------------------------------------------------------------------------------------


def get(port: int, path: str, headers: dict, conn: http.client.HTTPConnection | None = None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    data = response.read()
    if own:
        conn.close()
    return response.status, data


def load(port: int, path: str, headers: dict, senders: int, seconds: float) -> dict:
    """`senders` clients GET `path` over one keep-alive connection each, started together, until time is up."""
    latencies: list[list[float]] = [[] for _ in range(senders)]
    failures = [0] * senders
    stop_at = [0.0]
    barrier = threading.Barrier(senders + 1)

    def sender(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        barrier.wait()
        while time.monotonic() < stop_at[0]:
            started = time.monotonic()
            try:
                status, _ = get(port, path, headers, conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                failures[i] += 1
                continue
            latencies[i].append(time.monotonic() - started)
            if status != 200:
                failures[i] += 1
        conn.close()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(senders)]
    for t in threads:
        t.start()
    started = time.monotonic()
    stop_at[0] = started + seconds
    barrier.wait()
    for t in threads:
        t.join()
    return {
        "elapsed": time.monotonic() - started,
        "latencies": [x for per in latencies for x in per],
        "failed": sum(failures),
    }


def summary(rounds: list[dict], cpu_seconds: float) -> dict:
    latencies = sorted(x for r in rounds for x in r["latencies"])
    failed = sum(r["failed"] for r in rounds)
    ok = len(latencies) - failed
    return {
        "ok": ok,
        "failed": failed,
        "per_s": ok / sum(r["elapsed"] for r in rounds),
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0,
        "cpu_ms": 1000 * cpu_seconds / max(ok, 1),
    }


def same_shape(ours: bytes, plain: bytes) -> str:
    """'same' when both answers carry the same keys and the same number of rows, else what differs."""
    a, b = json.loads(ours), json.loads(plain)
    if set(a) != set(b):
        return f"keys differ: {sorted(set(a) ^ set(b))}"
    if "results" in a and len(a["results"]) != len(b["results"]):
        return f"rows differ: {len(a['results'])} vs {len(b['results'])}"
    return "same"


# --- in-process profile -----------------------------------------------------------------------------------------


def profile(which: str, world: dict, count: int = 2000) -> None:
    import cProfile
    import pstats

    from django.test import Client

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings_reads"
    settings.ROOT_URLCONF = "bench.urls_reads"
    client = Client(HTTP_HOST=f"{world['slug']}.{settings.EKR_BASE_DOMAIN}")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"}
    paths = {name: ours for name, ours, _ in endpoints(world["shop_id"])}
    paths.update({f"{name}-plain": plain for name, _, plain in endpoints(world["shop_id"])})
    path = paths[which]
    for _ in range(50):
        assert client.get(path, **auth).status_code == 200
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(count):
        client.get(path, **auth)
    profiler.disable()
    log(f"{which}: {count} GETs in process, {1e3 * (time.perf_counter() - started) / count:.2f} ms each (profiled)")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def cpu_compare(world: dict, count: int = 1000) -> None:
    """Process CPU per request of ours and the plain view, in process (Django test client), alternating blocks."""
    from django.test import Client

    settings.ROOT_URLCONF = "bench.urls_reads"
    client = Client(HTTP_HOST=f"{world['slug']}.{settings.EKR_BASE_DOMAIN}")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"}
    for name, ours, plain in endpoints(world["shop_id"]):
        spent = {"ours": 0.0, "plain": 0.0}
        for _ in range(5):
            for side, path in (("ours", ours), ("plain", plain)):
                started = time.process_time()
                for _ in range(count // 5):
                    client.get(path, **auth)
                spent[side] += time.process_time() - started
        log(
            f"{name:<8} CPU per request in process: ours {1e3 * spent['ours'] / count:.2f} ms, plain "
            f"{1e3 * spent['plain'] / count:.2f} ms ({spent['ours'] / spent['plain']:.2f} x)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0, help="each side's total time per endpoint")
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--products", type=int, default=100)
    parser.add_argument("--rooms", type=int, default=6)
    parser.add_argument("--only", default="", help="comma-separated endpoint names (me,points,catalog,rooms)")
    parser.add_argument("--profile", default="", help="cProfile one endpoint in process instead of the HTTP bench")
    args = parser.parse_args()
    t0 = time.monotonic()
    log(f"provisioning database {BENCH_DB}: a brand, a member, {args.products} products, {args.rooms} rooms ...")
    world = provision(args.products, args.rooms)
    if args.profile == "cpu":
        cpu_compare(world)
        return
    if args.profile:
        profile(args.profile, world)
        return
    headers = {"Host": f"{world['slug']}.{settings.EKR_BASE_DOMAIN}", "Authorization": f"Bearer {world['token']}"}
    port = free_port()
    server = start_gunicorn(port, "bench.settings_reads")
    chosen = [e for e in endpoints(world["shop_id"]) if not args.only or e[0] in args.only.split(",")]
    results = {}
    try:
        for name, ours, plain in chosen:
            status_ours, body_ours = get(port, ours, headers)
            status_plain, body_plain = get(port, plain, headers)
            if status_ours != 200 or status_plain != 200:
                raise RuntimeError(f"{name}: {status_ours} {body_ours[:200]!r} / {status_plain} {body_plain[:200]!r}")
            shape = same_shape(body_ours, body_plain)
            for path in (ours, plain):  # warm up: imports, connections, caches
                load(port, path, headers, args.senders, 0.5)
            log(
                f"{name}: {args.senders} senders, {args.seconds:.0f} s per side in {ROUNDS} alternating rounds, "
                f"load average {os.getloadavg()[0]:.1f}; answers: {shape} ({len(body_ours)} bytes)"
            )
            rounds = {"ours": [], "plain": []}
            cpu = {"ours": 0.0, "plain": 0.0}
            for _ in range(ROUNDS):
                for side, path in (("ours", ours), ("plain", plain)):
                    cpu0 = group_cpu(server)
                    rounds[side].append(load(port, path, headers, args.senders, args.seconds / ROUNDS))
                    cpu[side] += group_cpu(server) - cpu0
            results[name] = {side: summary(rounds[side], cpu[side]) for side in rounds}
    finally:
        stop_group(server)

    log(f"\n{os.cpu_count()} CPUs shared with the senders; gunicorn gthread 2 x 8")
    header = (
        f"{'endpoint':<9} {'ours req/s':>10} {'plain req/s':>11} {'ratio':>6} {'ours p50':>9} {'ours p99':>9} "
        f"{'plain p99':>9} {'ours CPU':>9} {'plain CPU':>9} {'failed':>6}"
    )
    log(header + "\n" + "-" * len(header))
    for name, r in results.items():
        ours, plain = r["ours"], r["plain"]
        log(
            f"{name:<9} {ours['per_s']:>10.0f} {plain['per_s']:>11.0f} {ours['per_s'] / plain['per_s']:>6.2f} "
            f"{ours['p50_ms']:>7.1f}ms {ours['p99_ms']:>7.1f}ms {plain['p99_ms']:>7.1f}ms "
            f"{ours['cpu_ms']:>7.2f}ms {plain['cpu_ms']:>7.2f}ms {ours['failed'] + plain['failed']:>6}"
        )
    for name, r in results.items():
        ratio = r["ours"]["per_s"] / r["plain"]["per_s"]
        figure(f"GET {name} vs plain Django view", measured=ratio, aim=f">= {AIM}", unit="x", ok=ratio >= AIM)
    log(f"total bench time {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
