"""Shared start of every bench: its own database and Redis db, created and migrated on first use, then Django.

Usage, first thing in a bench script (before anything imports Django or ekr's settings):

    import _owndb
    DB_NAME = _owndb.use("members", redis_db=12)   # <db>_bench_members, Redis db 12; django.setup() done

`EKR_BENCH_DB_SUFFIX` / `EKR_BENCH_REDIS_DB` override the name and the Redis db (two copies of one bench at once).
With DATABASE_URL / REDIS_URL unset, the embedded servers of `make services` are used (their addresses come from
`.data/services.env`). The database is migrated (`migrate_schemas --shared`, then the tenant apps of the brands it
holds, by `bootstrap`) whenever the public or the template
schema is behind; `fresh=True` drops and recreates it first.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def _admin_connection():
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
    return conn


def use(name: str, *, redis_db: int, fresh: bool = False, debug: bool = False) -> str:
    """Point this process (and the subprocesses it starts) at `<db>_bench_<name>` and Redis db `redis_db`."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
    os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")
    os.environ["DJANGO_DEBUG"] = "1" if debug else "0"

    from ekr.devservices import load_service_env

    load_service_env(ROOT)
    db = urlsplit(os.environ["DATABASE_URL"])
    base = db.path.lstrip("/")
    suffix = os.environ.get("EKR_BENCH_DB_SUFFIX", f"_bench_{name}")
    db_name = base if base.endswith(suffix) else base + suffix
    os.environ["DATABASE_URL"] = urlunsplit(db._replace(path="/" + db_name))
    redis = urlsplit(os.environ["REDIS_URL"])
    os.environ["REDIS_URL"] = urlunsplit(redis._replace(path="/" + os.environ.get("EKR_BENCH_REDIS_DB", str(redis_db))))
    os.environ.pop("CELERY_BROKER_URL", None)

    conn = _admin_connection()
    with conn.cursor() as cur:
        if fresh:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [db_name],
            )
            cur.execute(f'DROP DATABASE IF EXISTS "{db_name}"')
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db_name])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{db_name}"')
    conn.close()

    import django

    django.setup()
    _migrate()
    return db_name


def _migrate() -> None:
    """`bootstrap` (public, the brand template, every brand, the platform host) when anything is behind."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django_tenants.utils import schema_exists

    def behind() -> bool:
        executor = MigrationExecutor(connection)
        return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))

    connection.set_schema_to_public()
    stale = behind() or not schema_exists(settings.TENANT_BASE_SCHEMA)
    if not stale:
        connection.set_schema(settings.TENANT_BASE_SCHEMA)
        stale = behind()
    connection.set_schema_to_public()
    if stale:
        call_command("bootstrap", verbosity=0)
    connection.set_schema_to_public()


def reset_redis() -> None:
    """Flush the bench's own Redis db (never the development one: `use` has pointed REDIS_URL elsewhere)."""
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
