"""bench/console: server time of the console's dashboard, member list and order list for a store manager of 20
stores, in a brand with 200,000 members, beside a bare Django view rendering the same rows, in the same run.

    .venv/bin/python bench/console.py [--members 200000] [--orders 100000] [--stores 100] [--requests 200] [--fresh]

Run small while the machine is busy: .venv/bin/python bench/console.py --members 20000 --orders 10000 --requests 50

Runs with ekr.settings.local against a database of its own (<name>_bench_console, created and migrated on first
use) on a fresh brand `benchconsole<random>`: `--stores` stores, the first 20 of them the manager's franchisee's;
members and paid orders (over the last 30 days) spread evenly over the stores. Each page is requested in-process
through Django's full handler (middleware, brand routing, session, locale) by the logged-in manager; "server time"
is the wall time of that call. Pages and their bare twins alternate request by request, so both see the same
machine. The bare views (bench/urls_console.py) load the logged-in user like any page, run one query with the store
ids given and render the rows in a one-line template: no scope, no selectors, no base template. The dashboard does
more than its twin (totals, per store, new members, refunds waiting, the analytics rollups): the twin renders the
chart's rows only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "ekr.settings.local"
os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")
os.environ.setdefault("DJANGO_DEBUG", "0")

MANAGED_STORES = 20


def _bench_database_url() -> str:
    from ekr.devservices import load_service_env

    load_service_env(ROOT)
    base, _, name = os.environ["DATABASE_URL"].rpartition("/")
    return f"{base}/{name.split('?')[0]}_bench_console"


def _ensure_database(url: str, *, fresh: bool = False) -> None:
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    conn = psycopg2.connect(
        dbname="postgres",
        user=cfg.get("USER") or "postgres",
        password=cfg.get("PASSWORD") or "",
        host=cfg.get("HOST") or "",
        port=cfg.get("PORT") or "",
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        if fresh:
            cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [cfg["NAME"]])
            cur.execute(f'DROP DATABASE IF EXISTS "{cfg["NAME"]}"')
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    conn.close()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def seed(*, members: int, orders: int, stores: int) -> tuple[list[int], str]:
    """Stores (the first 20 the manager's), members and paid orders spread over them; returns the manager's store
    ids and the manager's username."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from members.models import CardLevel, Franchisee, Member, StaffProfile, Store
    from members.selectors import phone_hash
    from miniprograms.models import Order

    mine = Franchisee.objects.create(name="bench franchisee")
    other = Franchisee.objects.create(name="others")
    store_objs = Store.objects.bulk_create(
        [
            Store(code=f"B{n:04d}", name=f"门店{n}", kind="franchise", franchisee=mine if n < MANAGED_STORES else other)
            for n in range(stores)
        ]
    )
    store_ids = [s.pk for s in store_objs]
    tier = CardLevel.objects.create(name="普通会员", rank=1)
    user = get_user_model().objects.create_user(username="bench-manager", password=uuid.uuid4().hex)
    StaffProfile.objects.create(user=user, franchisee=mine)
    now = timezone.now()
    t0 = time.perf_counter()
    batch = []
    for i in range(members):
        phone = f"139{i:08d}"
        batch.append(
            Member(
                phone=phone,
                phone_hash=phone_hash(phone),
                name=f"会员{i}",
                store_id=store_ids[i % stores],
                tier=tier,
                joined_at=now - dt.timedelta(minutes=i),
                join_channel="import",
            )
        )
        if len(batch) == 5000:
            Member.objects.bulk_create(batch)
            batch = []
    Member.objects.bulk_create(batch)
    print(f"seeded {members} members in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    batch = []
    for i in range(orders):
        paid = now - dt.timedelta(seconds=i * 30 * 86400 // max(orders, 1))
        total = 1000 + (i * 37) % 50000
        batch.append(
            Order(
                number=f"B{i:012d}",
                channel="pos",
                store_id=store_ids[i % stores],
                status="paid",
                subtotal_fen=total,
                total_fen=total,
                fulfilment="in_store",
                fulfilment_status="picked_up",
                receipt_no=f"R{i}",
                created_at=paid,
                paid_at=paid,
            )
        )
        if len(batch) == 5000:
            Order.objects.bulk_create(batch)
            batch = []
    Order.objects.bulk_create(batch)
    print(f"seeded {orders} orders in {time.perf_counter() - t0:.1f}s")
    return store_ids[:MANAGED_STORES], user.username


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200, help="per page (and as many for its bare twin)")
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="drop the bench database first (after migrations were renumbered, or to start from an empty disk)",
    )
    args = parser.parse_args()

    url = _bench_database_url()
    os.environ["DATABASE_URL"] = url
    _ensure_database(url, fresh=args.fresh)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django_tenants.utils import schema_context

    settings.ROOT_URLCONF = "bench.urls_console"
    settings.DEBUG = False
    t0 = time.perf_counter()
    call_command("bootstrap", verbosity=0)
    print(f"database {connection.settings_dict['NAME']} migrated in {time.perf_counter() - t0:.1f}s")

    from tenants.services import brand_create

    slug = f"benchconsole{uuid.uuid4().hex[:6]}"
    brand_create(slug=slug, name="bench console", admin_username="bench-hq", admin_password=uuid.uuid4().hex)
    with schema_context(slug):
        managed, username = seed(members=args.members, orders=args.orders, stores=args.stores)
        from django.contrib.auth import get_user_model

        user = get_user_model().objects.get(username=username)
    connection.set_schema_to_public()

    host = f"{slug}.{settings.EKR_BASE_DOMAIN}"
    client = Client(HTTP_HOST=host)
    with schema_context(slug):
        client.force_login(user)
    connection.set_schema_to_public()
    stores = ",".join(map(str, managed))
    pages = [
        ("dashboard", "/console/?days=7", f"/bench/bare/dashboard?stores={stores}"),
        ("members", "/console/members/", f"/bench/bare/members?stores={stores}"),
        ("orders", "/console/orders/", f"/bench/bare/orders?stores={stores}"),
    ]
    print(
        f"brand {slug}: {args.members} members, {args.orders} orders, {args.stores} stores "
        f"({MANAGED_STORES} the manager's); {args.requests} requests per page and per bare view"
    )
    print(f"{'page':10} {'console p50':>12} {'p95':>9} {'bare p50':>10} {'p95':>9} {'ratio p50':>10} {'ratio p95':>10}")
    for name, page, bare in pages:
        for warm in (page, bare):  # first request of each: template compilation, connection
            assert client.get(warm).status_code == 200, warm
        times: dict[str, list[float]] = {page: [], bare: []}
        for _ in range(args.requests):
            for target in (page, bare):
                t0 = time.perf_counter()
                response = client.get(target)
                times[target].append(time.perf_counter() - t0)
                assert response.status_code == 200, (target, response.status_code)
        c50, c95 = statistics.median(times[page]) * 1000, percentile(times[page], 95) * 1000
        b50, b95 = statistics.median(times[bare]) * 1000, percentile(times[bare], 95) * 1000
        print(f"{name:10} {c50:10.1f}ms {c95:7.1f}ms {b50:8.1f}ms {b95:7.1f}ms {c50 / b50:9.2f}x {c95 / b95:9.2f}x")


if __name__ == "__main__":
    main()
