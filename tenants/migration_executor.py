"""Migrating hundreds of brand schemas without rendering Django's migration state once per brand.

Every brand schema is cloned from the template and migrated in lockstep, so brands at the same migration state
need the same SQL. `SharedPlanExecutor` (the default executor of `migrate_schemas`, codename `shared_plan`):

1. reads which migrations each schema has applied, in a few queries, and groups schemas with the same set;
2. per group, plans and renders the migration state once, in one representative schema, and collects the SQL of
   the plan (`MigrationExecutor.collect_sql`, the same SQL `sqlmigrate` prints; the tenant router keeps shared
   apps out of it);
3. applies that SQL to each schema of the group on its own connection, several schemas at a time
   (`EKR_MIGRATE_PARALLEL`, default: the machine's cores), each schema in ONE transaction together with its
   `django_migrations` rows — a schema is migrated wholly or not at all, so an interrupted run can simply be run
   again: schemas already done form a group with nothing to apply;
4. then runs `post_migrate` (content types and permissions for new models) in each changed schema.

A group whose plan holds an operation that is not plain SQL (RunPython), a non-atomic migration or a backwards
step falls back to django-tenants' standard executor for that group: correct, only slower. The public schema
always goes the standard way.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import psycopg2
from django.conf import settings
from django.core.management.sql import emit_post_migrate_signal
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor as DjangoMigrationExecutor
from django_tenants.migration_executors.base import MigrationExecutor, run_migrations
from django_tenants.utils import get_public_schema_name

Applied = frozenset[tuple[str, str]]


def _quote(schema: str) -> str:
    return '"' + schema.replace('"', '""') + '"'


def applied_by_schema(schemas: list[str], *, chunk: int = 200) -> dict[str, Applied | None]:
    """{schema: the (app, name) pairs in its django_migrations}, None for a schema without that table."""
    result: dict[str, Applied | None] = dict.fromkeys(schemas)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'django_migrations' "
            "AND table_schema = ANY(%s)",
            [schemas],
        )
        present = [row[0] for row in cursor.fetchall()]
        rows: dict[str, set] = defaultdict(set)
        for start in range(0, len(present), chunk):
            part = present[start : start + chunk]
            sql = " UNION ALL ".join(f"SELECT %s, app, name FROM {_quote(schema)}.django_migrations" for schema in part)
            cursor.execute(sql, part)
            for schema, app, name in cursor.fetchall():
                rows[schema].add((app, name))
        for schema in present:
            result[schema] = frozenset(rows[schema])
    return result


def _plain_sql(plan) -> bool:
    for migration, backwards in plan:
        if backwards or not migration.atomic:
            return False
        if not all(getattr(operation, "reduces_to_sql", False) for operation in migration.operations):
            return False
    return True


def _dsn() -> dict:
    db = settings.DATABASES["default"]
    dsn = {
        "dbname": db["NAME"],
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
    }
    return {key: value for key, value in dsn.items() if value}


def _collect_sql(executor: DjangoMigrationExecutor, plan) -> list[str]:
    """The SQL of `plan`, rendered from the state of what the schema has applied. (Django's loader.collect_sql
    starts from the first migration's own ancestors only, so a plan spanning apps -- points 0004 then
    miniprograms 0011 -- fails on models of the other app: KeyError.)"""
    state = executor._create_project_state(with_applied_migrations=True)
    statements: list[str] = []
    for migration, _backwards in plan:
        with executor.connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            state = migration.apply(state, editor, collect_sql=True)
        statements.extend(editor.collected_sql)
    return statements


def _only_comments(sql: str) -> bool:
    """True for the `-- MIGRATION NOW PERFORMS OPERATION THAT CANNOT BE WRITTEN AS SQL` lines collect_sql adds;
    a statement that merely starts with a comment (a RunSQL script) is kept."""
    return all(not line.strip() or line.lstrip().startswith("--") for line in sql.splitlines())


def _apply(schema: str, expected: Applied, statements: list[str], records: list[tuple[str, str]]) -> None:
    """The collected SQL and its migration records in `schema`, in one transaction; nothing if the schema moved
    on since it was read (another run got there first)."""
    conn = psycopg2.connect(**_dsn())
    try:
        with conn, conn.cursor() as cursor:
            cursor.execute(f"SET LOCAL search_path TO {_quote(schema)}, public")
            cursor.execute(f"LOCK TABLE {_quote(schema)}.django_migrations IN EXCLUSIVE MODE")
            cursor.execute(f"SELECT app, name FROM {_quote(schema)}.django_migrations")
            if frozenset(cursor.fetchall()) != expected:
                return
            for statement in statements:
                cursor.execute(statement)
            cursor.executemany(
                f"INSERT INTO {_quote(schema)}.django_migrations (app, name, applied) VALUES (%s, %s, now())", records
            )
    finally:
        conn.close()


class MigrationsFailed(Exception):
    """Some schemas could not be migrated; the others are done and a new run picks up the rest."""


class SharedPlanExecutor(MigrationExecutor):
    codename = "shared_plan"

    def run_migrations(self, tenants=None):
        tenants = list(tenants or [])
        public = get_public_schema_name()
        if public in tenants:
            run_migrations(self.args, self.options, self.codename, public)
            tenants.remove(public)
        if not tenants:
            return
        if self.args:  # a named target (an app, a migration, backwards): Django's own way, schema by schema
            self._standard(tenants)
            return
        started = time.monotonic()
        groups: dict[Applied | None, list[str]] = defaultdict(list)
        for schema, applied in applied_by_schema(tenants).items():
            groups[applied].append(schema)
        changed = 0
        for applied, schemas in groups.items():
            changed += self._migrate_group(applied, schemas)
        connection.set_schema_to_public()
        if int(self.options.get("verbosity", 1)) >= 1:
            self.logger_write(
                f"[shared_plan] {len(tenants)} schema(s) in {len(groups)} group(s), {changed} changed, "
                f"{time.monotonic() - started:.1f}s"
            )

    def logger_write(self, message: str) -> None:
        import sys

        sys.stdout.write(message + "\n")

    def _standard(self, schemas: list[str]) -> int:
        for idx, schema in enumerate(schemas):
            run_migrations(self.args, self.options, self.codename, schema, idx=idx, count=len(schemas))
        return len(schemas)

    def _migrate_group(self, applied: Applied | None, schemas: list[str]) -> int:
        if applied is None:  # no django_migrations yet: a schema being created
            return self._standard(schemas)
        connection.set_schema(schemas[0])
        executor = DjangoMigrationExecutor(connection)
        targets = executor.loader.graph.leaf_nodes()
        plan = executor.migration_plan(targets)
        if not plan:
            return 0
        if not _plain_sql(plan):
            return self._standard(schemas)
        statements = [s for s in _collect_sql(executor, plan) if not _only_comments(s)]
        records = [(migration.app_label, migration.name) for migration, _ in plan]
        workers = int(os.environ.get("EKR_MIGRATE_PARALLEL") or os.cpu_count() or 2)
        connection.set_schema_to_public()
        failed: dict[str, BaseException] = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {schema: pool.submit(_apply, schema, applied, statements, records) for schema in schemas}
        for schema, future in futures.items():
            if future.exception() is not None:
                failed[schema] = future.exception()
            else:  # content types and permissions of new models, before the schema counts as done
                self._post_migrate(schema, plan)
        if failed:
            names = ", ".join(f"{schema}: {error}" for schema, error in sorted(failed.items())[:5])
            raise MigrationsFailed(f"{len(failed)} schema(s) not migrated (run again to finish): {names}")
        return len(schemas)

    def _post_migrate(self, schema: str, plan) -> None:
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()  # its cache is per database, not per schema
        connection.set_schema(schema)
        try:
            emit_post_migrate_signal(0, False, connections[connection.alias].alias, plan=plan)
        finally:
            ContentType.objects.clear_cache()
            connection.set_schema_to_public()
