"""bench/scale: how ekr's per-brand costs grow with the number of brands (issue: scale to 500 brands).

    .venv/bin/python bench/scale.py                 # quick: 20 brands
    .venv/bin/python bench/scale.py --brands 500 --stores 10000 --shops 20000 --skus 2000 \
        --members 5000000 --tagged 1000000                                     # the issue's sizes

Its own database (`<db>_bench_scale`, dropped and made anew) on the same server. It prints:
- provisioning: seconds per brand along the way (first, middle and last tenth), aim < 0.5 s and flat;
- a no-op `migrate_schemas` over every brand (aim < 60 s at 500), beside django-tenants' standard executor on a
  sample of brands, extrapolated to all of them;
- one new migration over every brand (aim < 5 min at 500): the newest brand-app migration is undone in every
  schema with its own reverse SQL, then `migrate_schemas` applies it again; the same baseline;
- one nightly cycle: every per-brand job of the beat schedule in every brand, and the fan-out's spread;
- a PostgreSQL backend's memory after one connection has served every brand (pg_backend_memory_contexts), at
  each quarter, and the cost of a brand's first queries on a connection (catalogue look-ups) against its second.
Profile a phase with: .venv/bin/python -m cProfile -s cumtime bench/scale.py --brands 50 | head -40
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")
os.environ["DJANGO_DEBUG"] = "0"

from ekr.devservices import load_service_env  # noqa: E402

load_service_env(ROOT)
_db = urlsplit(os.environ["DATABASE_URL"])
DB_NAME = _db.path.lstrip("/") + "_bench_scale"
os.environ["DATABASE_URL"] = urlunsplit(_db._replace(path="/" + DB_NAME))
os.environ["REDIS_URL"] = os.environ["REDIS_URL"].rsplit("/", 1)[0] + "/14"


def _recreate_database() -> None:
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    params = {"dbname": "postgres", "user": cfg.get("USER"), "host": cfg.get("HOST"), "port": cfg.get("PORT")}
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [DB_NAME])
        cur.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}"')
        cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()


_recreate_database()

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.migrations.loader import MigrationLoader  # noqa: E402
from django.db.migrations.operations import CreateModel  # noqa: E402

from tenants.migration_executor import _apply, applied_by_schema  # noqa: E402
from tenants.models import Brand  # noqa: E402
from tenants.services import brand_create  # noqa: E402


def tenths(values: list[float]) -> str:
    n = max(len(values) // 10, 1)
    return (
        f"first tenth median {statistics.median(values[:n]):.3f} s, middle {statistics.median(values[len(values) // 2 - n // 2 :][:n]):.3f} s, "
        f"last tenth {statistics.median(values[-n:]):.3f} s"
    )


def provision(count: int) -> list[str]:
    times, schemas = [], []
    for i in range(count):
        start = time.perf_counter()
        brand = brand_create(slug=f"s{i:04d}", name=f"Scale {i}")
        times.append(time.perf_counter() - start)
        schemas.append(brand.schema_name)
        connection.set_schema_to_public()
    print(
        f"provisioning {count} brands: {sum(times):.1f} s in all; {tenths(times)}; "
        f"max {max(times):.3f} s (aim < 0.5 s each, flat)",
        flush=True,
    )
    return schemas


def newest_leaf():
    """The newest brand-app migration nothing depends on that creates a table, as (migration, loader)."""
    connection.set_schema("brand_template")
    loader = MigrationLoader(connection)
    tenant_apps = {name.rsplit(".", 1)[-1] for name in settings.TENANT_APPS if not name.startswith(("django.", "axes"))}
    for key in sorted(loader.graph.leaf_nodes()):
        migration = loader.graph.nodes[key]
        if (
            key[0] in tenant_apps
            and any(isinstance(op, CreateModel) for op in migration.operations)
            and all(getattr(op, "reduces_to_sql", False) for op in migration.operations)
        ):
            return migration, loader
    raise SystemExit("no brand-app leaf migration that creates a table")


def undo_everywhere(schemas: list[str]) -> str:
    """Unapply the newest leaf migration in every schema with its reverse SQL (rendered once)."""
    migration, loader = newest_leaf()
    statements = [s for s in loader.collect_sql([(migration, True)]) if s.strip() and not s.startswith("--")]
    connection.set_schema_to_public()
    applied = applied_by_schema(schemas)
    for schema in schemas:
        _apply(schema, applied[schema], statements, [])
        with connection.cursor() as cursor:
            cursor.execute(
                f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s',
                [migration.app_label, migration.name],
            )
    return f"{migration.app_label}.{migration.name}"


def standard_per_brand(schemas: list[str]) -> float:
    start = time.perf_counter()
    for schema in schemas:
        call_command("migrate_schemas", schema_name=schema, executor="standard", verbosity=0)
    connection.set_schema_to_public()
    return (time.perf_counter() - start) / len(schemas)


def migrations(schemas: list[str], sample: int) -> None:
    every = [*schemas, "brand_template"]
    start = time.perf_counter()
    call_command("migrate_schemas", verbosity=0)
    noop = time.perf_counter() - start
    base = standard_per_brand(schemas[:sample])
    print(
        f"no-op migrate_schemas over {len(schemas)} brands: {noop:.1f} s (aim < 60 s at 500); standard "
        f"executor {base:.2f} s a brand -> {base * len(every):.1f} s for all; ratio {base * len(every) / noop:.1f}x",
        flush=True,
    )

    name = undo_everywhere(every)
    start = time.perf_counter()
    call_command("migrate_schemas", verbosity=0)
    one = time.perf_counter() - start
    undo_everywhere(schemas[:sample])
    base = standard_per_brand(schemas[:sample])
    print(
        f"one migration ({name}) over {len(schemas)} brands: {one:.1f} s (aim < 300 s at 500); standard "
        f"executor {base:.2f} s a brand -> {base * len(every):.1f} s for all; ratio {base * len(every) / one:.1f}x",
        flush=True,
    )


def _serve(schema: str) -> None:
    """What a request to a brand does to the catalogue: the tables a member's home page reads."""
    connection.set_schema(schema)
    with connection.cursor() as cursor:
        for table in (
            "members_member",
            "members_store",
            "points_pointsaccount",
            "miniprograms_order",
            "miniprograms_shop",
            "miniprograms_coupon",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")


def backend_memory(schemas: list[str]) -> None:
    connection.close()
    connection.set_schema_to_public()

    def memory_mb() -> float:
        with connection.cursor() as cursor:
            cursor.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
            return cursor.fetchone()[0] / 2**20

    start_mb = memory_mb()
    firsts, seconds, marks = [], [], []
    quarter = max(len(schemas) // 4, 1)
    for i, schema in enumerate(schemas, 1):
        t0 = time.perf_counter()
        _serve(schema)
        t1 = time.perf_counter()
        _serve(schema)
        t2 = time.perf_counter()
        firsts.append(t1 - t0)
        seconds.append(t2 - t1)
        if i % quarter == 0 or i == len(schemas):
            connection.set_schema_to_public()
            marks.append(f"{i}: {memory_mb():.1f} MB")
    print(
        f"backend memory after serving brands on one connection (start {start_mb:.1f} MB): " + ", ".join(marks),
        flush=True,
    )
    print(
        f"a brand's first queries on a connection: median {statistics.median(firsts) * 1000:.2f} ms, its "
        f"second: {statistics.median(seconds) * 1000:.2f} ms (catalogue cost "
        f"{statistics.median(firsts) / statistics.median(seconds):.1f}x)",
        flush=True,
    )
    connection.close()


def nightly(schemas: list[str]) -> None:
    """Every per-brand periodic job of the beat schedule, run once in every brand (inline, one process), and how
    the fan-out spreads the brands over each job's window."""
    from django_tenants.utils import schema_context

    from core.tasks import spread_seconds
    from ekr.celery import app as current_app

    current_app.loader.import_default_modules()  # the apps' tasks modules, as a worker loads them

    total = 0.0
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        kwargs = entry.get("kwargs") or {}
        if entry["task"] != "core.fan_out_to_brands":
            continue
        task = current_app.tasks[kwargs["task_name"]]
        window = kwargs.get("window_seconds", 300)
        times = []
        for schema in schemas:
            with schema_context(schema):
                t0 = time.perf_counter()
                task()
                times.append(time.perf_counter() - t0)
        total += sum(times)
        minutes = [0] * max(window // 60, 1)
        for schema in schemas:
            minutes[min(spread_seconds(schema, window) // 60, len(minutes) - 1)] += 1
        print(
            f"{name}: {sum(times):.2f} s for {len(schemas)} brands (slowest brand {max(times) * 1000:.0f} ms); "
            f"window {window} s: brands per minute min {min(minutes)}, max {max(minutes)}",
            flush=True,
        )
    connection.set_schema_to_public()
    print(f"one nightly cycle of every per-brand job, {len(schemas)} brands, one process: {total:.1f} s", flush=True)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)]


def big_brand(stores: int, shops: int, skus: int) -> None:
    """A brand with `stores` stores, `shops` shops and `skus` SKUs (50 on each shop): HQ's push of a new product
    to every shop, and a member's read of a shop's catalog."""
    import random

    from django.test import Client
    from django_tenants.utils import schema_context

    from members.models import Member, Store
    from members.mp_auth import member_token_issue
    from miniprograms.models import Product, Shop, Sku
    from miniprograms.services.pushes import shop_push_run, shop_push_start

    brand = brand_create(slug="bigbrand", name="Big brand")
    connection.set_schema_to_public()
    with schema_context(brand.schema_name):
        start = time.perf_counter()
        Store.objects.bulk_create([Store(code=f"S{i:06d}", name=f"Store {i}") for i in range(stores)], batch_size=5000)
        store_ids = list(Store.objects.values_list("pk", flat=True))
        Shop.objects.bulk_create(
            [Shop(store_id=store_ids[i % len(store_ids)], name=f"Shop {i}") for i in range(shops)], batch_size=5000
        )
        products = Product.objects.bulk_create([Product(name=f"P{i}") for i in range(max(skus // 5, 1))])
        Sku.objects.bulk_create(
            [Sku(product=products[i % len(products)], code=f"K{i:06d}", price_fen=100 + i) for i in range(skus)],
            batch_size=5000,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO miniprograms_shopsku (shop_id, sku_id, stock, on_sale)
                              SELECT s.id, k.id, 10, true FROM miniprograms_shop s
                              JOIN miniprograms_sku k ON k.id %% %s = s.id %% %s""",
                [max(skus // 50, 1), max(skus // 50, 1)],
            )
            cursor.execute("ANALYZE")
        print(
            f"big brand: {stores} stores, {shops} shops, {skus} SKUs, generated in {time.perf_counter() - start:.1f} s",
            flush=True,
        )

        def new_product(tag: str) -> Product:
            product = Product.objects.create(name=f"New {tag}")
            for i in range(3):
                Sku.objects.create(product=product, code=f"N{tag}{i}", price_fen=990)
            return product

        product = new_product("a")
        start = time.perf_counter()
        push = shop_push_start(product=product, stock=5)
        push = shop_push_run(push_id=push.pk)
        ekr_push = time.perf_counter() - start
        bare_product = new_product("b")
        start = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                """INSERT INTO miniprograms_shopsku (shop_id, sku_id, stock, on_sale)
                              SELECT s.id, k.id, 5, true FROM miniprograms_shop s CROSS JOIN miniprograms_sku k
                              WHERE k.product_id = %s
                              ON CONFLICT (shop_id, sku_id) DO UPDATE SET stock = 5, on_sale = true""",
                [bare_product.pk],
            )
        bare_push = time.perf_counter() - start
        print(
            f"push of a 3-SKU product to {push.done_shops} shops ({push.written} shop SKUs): {ekr_push:.2f} s; "
            f"one bare upsert: {bare_push:.2f} s; ratio {bare_push / ekr_push:.2f}",
            flush=True,
        )

        member = Member.objects.create(openid="o-bench-big")
        shop_ids = list(Shop.objects.values_list("pk", flat=True))
    token = member_token_issue(schema=brand.schema_name, appid="wxbench", openid=member.openid)
    client = Client(HTTP_HOST=f"bigbrand.{settings.EKR_BASE_DOMAIN}", HTTP_AUTHORIZATION=f"Bearer {token}")
    sample = random.Random(7).sample(shop_ids, min(300, len(shop_ids)))
    api, bare = [], []
    for shop_id in sample:
        t0 = time.perf_counter()
        response = client.get(f"/api/v1/mp/shops/{shop_id}/catalog")
        api.append(time.perf_counter() - t0)
        assert response.status_code == 200, response.content[:200]
    with schema_context(brand.schema_name), connection.cursor() as cursor:
        for shop_id in sample:
            t0 = time.perf_counter()
            cursor.execute(
                """SELECT ss.sku_id, k.code, p.id, p.name, k.attributes, COALESCE(ss.price_fen, k.price_fen),
                                     k.price_fen, ss.stock
                              FROM miniprograms_shopsku ss JOIN miniprograms_sku k ON k.id = ss.sku_id
                              JOIN miniprograms_product p ON p.id = k.product_id
                              WHERE ss.shop_id = %s AND ss.on_sale AND k.active AND p.active
                              ORDER BY p.id, k.id""",
                [shop_id],
            )
            cursor.fetchall()
            bare.append(time.perf_counter() - t0)
    print(
        f"a shop's catalog (about 50 SKUs) among {len(shop_ids)} shops: API p50 "
        f"{statistics.median(api) * 1000:.1f} ms, p99 {_percentile(api, 0.99) * 1000:.1f} ms; bare SQL p50 "
        f"{statistics.median(bare) * 1000:.2f} ms, p99 {_percentile(bare, 0.99) * 1000:.2f} ms",
        flush=True,
    )


def big_member_base(members: int, tagged: int, reassign: int) -> None:
    """A brand with `members` members over 500 stores of 25 franchisees: staff phone look-up, a store manager's
    member search (first page and a deep page), the members of a tag with `tagged` members, and moving `reassign`
    members from one guide to another, each beside bare SQL of the same read."""
    import random

    from django.contrib.auth import get_user_model
    from django.test import Client
    from django_tenants.utils import schema_context

    from members.models import Franchisee, Guide, Member, StaffProfile, Store, Tag
    from members.selectors import phone_hash
    from members.services import guide_members_reassign

    brand = brand_create(slug="bigmembers", name="Big member base")
    connection.set_schema_to_public()
    rng = random.Random(11)
    with schema_context(brand.schema_name):
        start = time.perf_counter()
        franchisees = Franchisee.objects.bulk_create([Franchisee(name=f"F{i}") for i in range(25)])
        stores = Store.objects.bulk_create(
            [
                Store(code=f"M{i:04d}", name=f"S{i}", kind="franchise", franchisee=franchisees[i % 25])
                for i in range(500)
            ]
        )
        guides = Guide.objects.bulk_create(
            [Guide(name=f"G{i}", employee_no=f"E{i:05d}", store=stores[i % 500]) for i in range(1000)]
        )
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO members_member (openid, phone, phone_hash, name, gender, status, joined_at, join_channel,
                    store_id, guide_id, earned_points_12m, spent_fen_12m, card_id, card_state, updated_at)
                SELECT 'o' || i, '', md5(i::text), 'm' || i, 'unknown', 'active', now() - (i %% 900) * interval '1 day',
                    'mini_program', %s + i %% 500, %s + i %% 1000, 0, 0, '', 'none', now()
                FROM generate_series(1, %s) AS i""",
                [stores[0].pk, guides[0].pk, members],
            )
            tag = Tag.objects.create(name="big tag")
            cursor.execute(
                """INSERT INTO members_membertag (member_id, tag_id, created_at)
                              SELECT id, %s, now() FROM members_member ORDER BY id LIMIT %s""",
                [tag.pk, tagged],
            )
            cursor.execute("ANALYZE")
        phones = {}
        for member_id in rng.sample(list(Member.objects.values_list("pk", flat=True)[:200_000]), 200):
            phone = f"139{member_id:08d}"
            Member.objects.filter(pk=member_id).update(phone=phone, phone_hash=phone_hash(phone))
            phones[phone] = member_id
        users = get_user_model()
        hq = users.objects.create_user(username="bench-hq", password="x" * 12)
        manager = users.objects.create_user(username="bench-manager", password="x" * 12)
        StaffProfile.objects.create(user=manager, franchisee=franchisees[3])
        if hasattr(StaffProfile, "role"):  # HQ is an explicit grant where that has landed
            StaffProfile.objects.create(user=hq, role="hq")
        print(
            f"member base: {members} members, a tag of {tagged}, generated in {time.perf_counter() - start:.1f} s",
            flush=True,
        )

    host = f"bigmembers.{settings.EKR_BASE_DOMAIN}"
    hq_client, manager_client = Client(HTTP_HOST=host), Client(HTTP_HOST=host)
    with schema_context(brand.schema_name):  # users and sessions live in the brand's schema
        hq_client.force_login(hq)
        manager_client.force_login(manager)

    def timed(fn, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
        return out

    def report(name: str, api: list[float], bare: list[float]) -> None:
        print(
            f"{name}: API p50 {statistics.median(api) * 1000:.1f} ms, p99 {_percentile(api, 0.99) * 1000:.1f} ms;"
            f" bare SQL p50 {statistics.median(bare) * 1000:.2f} ms, p99 {_percentile(bare, 0.99) * 1000:.2f} ms",
            flush=True,
        )

    phone_list = list(phones)
    api = timed(lambda: _ok(hq_client.get("/api/v1/staff/members", {"phone": rng.choice(phone_list)})), 200)
    with schema_context(brand.schema_name), connection.cursor() as cursor:
        bare = timed(
            lambda: (
                cursor.execute(
                    "SELECT * FROM members_member WHERE phone_hash = %s", [phone_hash(rng.choice(phone_list))]
                ),
                cursor.fetchall(),
            ),
            200,
        )
    report("phone look-up", api, bare)

    api = timed(lambda: _ok(manager_client.get("/api/v1/staff/members")), 100)
    with schema_context(brand.schema_name), connection.cursor() as cursor:
        bare = timed(
            lambda: (
                cursor.execute(
                    "SELECT m.* FROM members_member m JOIN members_store s ON s.id = m.store_id WHERE s.franchisee_id = %s "
                    "ORDER BY m.id DESC LIMIT 20",
                    [franchisees[3].pk],
                ),
                cursor.fetchall(),
            ),
            100,
        )
    report("a store manager's member list, first page", api, bare)

    def tag_pages() -> None:
        response = _ok(hq_client.get("/api/v1/staff/members", {"tag": tag.pk}))
        for _ in range(4):  # four pages deep by cursor
            if not response.json().get("next"):
                break
            response = _ok(hq_client.get(response.json()["next"]))

    api = timed(tag_pages, 30)
    with schema_context(brand.schema_name), connection.cursor() as cursor:
        bare = timed(
            lambda: (
                cursor.execute(
                    "SELECT m.* FROM members_member m JOIN members_membertag t ON t.member_id = m.id WHERE t.tag_id = %s "
                    "ORDER BY m.id DESC LIMIT 100",
                    [tag.pk],
                ),
                cursor.fetchall(),
            ),
            30,
        )
    report(f"five pages of a tag with {tagged} members", api, bare)

    with schema_context(brand.schema_name):
        source, target = guides[5], guides[6]
        first = list(Member.objects.order_by("pk").values_list("pk", flat=True)[:reassign])
        Member.objects.filter(pk__in=first).update(guide=source, store=source.store)  # a guide with `reassign`
        t0 = time.perf_counter()
        moved = guide_members_reassign(
            members=Member.objects.filter(guide=source), from_guide=source, to_guide=target, reason="bench"
        )
        took = time.perf_counter() - t0
    print(f"moving {moved} members to another guide: {took:.2f} s", flush=True)


def _ok(response):
    assert response.status_code == 200, response.content[:300]
    return response


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brands", type=int, default=20)
    parser.add_argument("--sample", type=int, default=5, help="brands the standard-executor baseline runs on")
    parser.add_argument("--stores", type=int, default=1000, help="the big brand's stores (the issue: 10000)")
    parser.add_argument("--shops", type=int, default=2000, help="the big brand's shops (the issue: 20000)")
    parser.add_argument("--skus", type=int, default=500, help="the big brand's SKUs (the issue: 2000)")
    parser.add_argument("--members", type=int, default=200_000, help="the member base (the issue: 5000000)")
    parser.add_argument("--tagged", type=int, default=40_000, help="members of one tag (the issue: 1000000)")
    parser.add_argument("--reassign", type=int, default=10_000, help="members moved between guides")
    args = parser.parse_args()
    call_command("bootstrap", verbosity=0)
    schemas = provision(args.brands)
    migrations(schemas, min(args.sample, len(schemas)))
    backend_memory(schemas)
    nightly(schemas)
    big_brand(args.stores, args.shops, args.skus)
    big_member_base(args.members, args.tagged, args.reassign)
    print(f"brands: {Brand.objects.exclude(schema_name='public').count()}", flush=True)


if __name__ == "__main__":
    main()
