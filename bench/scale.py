"""bench/scale: how ekr's per-brand costs grow with the number of brands (issue: scale to 500 brands).

    .venv/bin/python bench/scale.py                 # quick: 20 brands
    .venv/bin/python bench/scale.py --brands 500    # the platform's size

Its own database (`<db>_bench_scale`, dropped and made anew) on the same server. It prints:
- provisioning: seconds per brand along the way (first, middle and last tenth), aim < 0.5 s and flat;
- a no-op `migrate_schemas` over every brand (aim < 60 s at 500), beside django-tenants' standard executor on a
  sample of brands, extrapolated to all of them;
- one new migration over every brand (aim < 5 min at 500): the newest brand-app migration is undone in every
  schema with its own reverse SQL, then `migrate_schemas` applies it again; the same baseline;
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
    return (f"first tenth median {statistics.median(values[:n]):.3f} s, middle {statistics.median(values[len(values) // 2 - n // 2:][:n]):.3f} s, "
            f"last tenth {statistics.median(values[-n:]):.3f} s")


def provision(count: int) -> list[str]:
    times, schemas = [], []
    for i in range(count):
        start = time.perf_counter()
        brand = brand_create(slug=f"s{i:04d}", name=f"Scale {i}")
        times.append(time.perf_counter() - start)
        schemas.append(brand.schema_name)
        connection.set_schema_to_public()
    print(f"provisioning {count} brands: {sum(times):.1f} s in all; {tenths(times)}; "
          f"max {max(times):.3f} s (aim < 0.5 s each, flat)", flush=True)
    return schemas


def newest_leaf():
    """The newest brand-app migration nothing depends on that creates a table, as (migration, loader)."""
    connection.set_schema("brand_template")
    loader = MigrationLoader(connection)
    tenant_apps = {name.rsplit(".", 1)[-1] for name in settings.TENANT_APPS if not name.startswith(("django.", "axes"))}
    for key in sorted(loader.graph.leaf_nodes()):
        migration = loader.graph.nodes[key]
        if key[0] in tenant_apps and any(isinstance(op, CreateModel) for op in migration.operations) \
                and all(getattr(op, "reduces_to_sql", False) for op in migration.operations):
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
            cursor.execute(f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s',
                           [migration.app_label, migration.name])
    return f"{migration.app_label}.{migration.name}"


def standard_per_brand(schemas: list[str]) -> float:
    start = time.perf_counter()
    for schema in schemas:
        call_command("migrate_schemas", schema_name=schema, executor="standard", verbosity=0)
    connection.set_schema_to_public()
    return (time.perf_counter() - start) / len(schemas)


def migrations(schemas: list[str], sample: int) -> None:
    every = schemas + ["brand_template"]
    start = time.perf_counter()
    call_command("migrate_schemas", verbosity=0)
    noop = time.perf_counter() - start
    base = standard_per_brand(schemas[:sample])
    print(f"no-op migrate_schemas over {len(schemas)} brands: {noop:.1f} s (aim < 60 s at 500); standard "
          f"executor {base:.2f} s a brand -> {base * len(every):.1f} s for all; ratio {base * len(every) / noop:.1f}x",
          flush=True)

    name = undo_everywhere(every)
    start = time.perf_counter()
    call_command("migrate_schemas", verbosity=0)
    one = time.perf_counter() - start
    undo_everywhere(schemas[:sample])
    base = standard_per_brand(schemas[:sample])
    print(f"one migration ({name}) over {len(schemas)} brands: {one:.1f} s (aim < 300 s at 500); standard "
          f"executor {base:.2f} s a brand -> {base * len(every):.1f} s for all; ratio {base * len(every) / one:.1f}x",
          flush=True)


def _serve(schema: str) -> None:
    """What a request to a brand does to the catalogue: the tables a member's home page reads."""
    connection.set_schema(schema)
    with connection.cursor() as cursor:
        for table in ("members_member", "members_store", "points_pointsaccount", "miniprograms_order",
                      "miniprograms_shop", "miniprograms_coupon"):
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
    print(f"backend memory after serving brands on one connection (start {start_mb:.1f} MB): " + ", ".join(marks),
          flush=True)
    print(f"a brand's first queries on a connection: median {statistics.median(firsts) * 1000:.2f} ms, its "
          f"second: {statistics.median(seconds) * 1000:.2f} ms (catalogue cost "
          f"{statistics.median(firsts) / statistics.median(seconds):.1f}x)", flush=True)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--brands", type=int, default=20)
    parser.add_argument("--sample", type=int, default=5, help="brands the standard-executor baseline runs on")
    args = parser.parse_args()
    call_command("bootstrap", verbosity=0)
    schemas = provision(args.brands)
    migrations(schemas, min(args.sample, len(schemas)))
    backend_memory(schemas)
    print(f"brands: {Brand.objects.exclude(schema_name='public').count()}", flush=True)


if __name__ == "__main__":
    main()
