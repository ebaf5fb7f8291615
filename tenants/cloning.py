"""Fast schema cloning: a new brand's schema is a copy of the migrated template schema.

django-tenants' generic `clone_schema` (a large PL/pgSQL function) walks the whole catalogue for every object,
so it slows down as brands are added (6 s a clone at ~130 schemas here, measured by bench/provision). This
reads the template's structure once per process and migration state, with a few catalogue queries filtered by
namespace, and replays it as plain DDL in one transaction:

- tables with their columns, defaults, identity columns, storage (`LIKE ... INCLUDING ...`, no constraints) and
  storage parameters (e.g. the fillfactor of points_pointslot);
- primary keys, unique, check and exclusion constraints, then foreign keys, all under their original names (so
  later migrations that name a constraint or index work on every brand);
- the other indexes, under their original names;
- the template's functions and triggers (e.g. the points ledger's append-only triggers);
- the template's rows (migration history, content types, permissions), with identity sequences moved past them.

Everything is generated with `search_path` set to the template alone, so references inside the definitions are
unqualified and resolve to the new schema when replayed there.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from django.db import connection, transaction

_plans: dict[tuple[str, int], ClonePlan] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class ClonePlan:
    tables: tuple[str, ...]
    table_options: dict[str, str]  # table -> its storage parameters, e.g. "fillfactor=80" (only tables that have any)
    constraints: tuple[str, ...]  # ALTER TABLE ... ADD CONSTRAINT, foreign keys last
    indexes: tuple[str, ...]
    functions: tuple[str, ...]
    triggers: tuple[str, ...]
    data_tables: tuple[str, ...]
    identity_columns: tuple[tuple[str, str], ...]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _migration_count(cursor, schema: str) -> int:
    cursor.execute(f"SELECT count(*) FROM {_q(schema)}.django_migrations")
    return cursor.fetchone()[0]


def _build_plan(cursor, source: str) -> ClonePlan:
    cursor.execute(f"SET LOCAL search_path = {_q(source)}")
    cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [source])
    nsp = cursor.fetchone()[0]
    cursor.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = %s AND relkind IN ('r', 'p') ORDER BY relname", [nsp]
    )
    tables = tuple(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT relname, array_to_string(reloptions, ', ') FROM pg_class "
        "WHERE relnamespace = %s AND relkind IN ('r', 'p') AND reloptions IS NOT NULL",
        [nsp],
    )
    table_options = dict(cursor.fetchall())
    cursor.execute(
        """SELECT c.relname, con.conname, pg_get_constraintdef(con.oid), con.contype
           FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
           WHERE con.connamespace = %s AND con.contype IN ('p', 'u', 'c', 'x', 'f')
           ORDER BY con.contype = 'f', c.relname, con.conname""",
        [nsp],
    )
    constraints = tuple(
        f"ALTER TABLE {_q(table)} ADD CONSTRAINT {_q(name)} {definition}"
        for table, name, definition, _ in cursor.fetchall()
    )
    cursor.execute(
        """SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
           WHERE ic.relnamespace = %s AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid)
           ORDER BY ic.relname""",
        [nsp],
    )
    indexes = tuple(row[0] for row in cursor.fetchall())
    cursor.execute(
        "SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = %s ORDER BY p.proname", [nsp]
    )
    qualified = (f"{_q(source)}.", f"{source}.")
    functions = []
    for (definition,) in cursor.fetchall():
        head, _, body = definition.partition("\n")
        for prefix in qualified:
            head = head.replace(f"FUNCTION {prefix}", "FUNCTION ")
        functions.append(head + "\n" + body)
    cursor.execute(
        """SELECT pg_get_triggerdef(t.oid) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = %s AND NOT t.tgisinternal ORDER BY t.tgname""",
        [nsp],
    )
    triggers = tuple(row[0] for row in cursor.fetchall())
    data_tables = []
    for table in tables:
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {_q(table)})")
        if cursor.fetchone()[0]:
            data_tables.append(table)
    cursor.execute(
        """SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           WHERE c.relnamespace = %s AND a.attidentity <> '' AND NOT a.attisdropped""",
        [nsp],
    )
    identity_columns = tuple((table, column) for table, column in cursor.fetchall())

    def unqualified(statements) -> tuple[str, ...]:
        # pg_get_indexdef / triggerdef qualify relation names whatever the search_path: drop the template's name so
        # the statement lands in the schema it is replayed in.
        out = []
        for statement in statements:
            for prefix in qualified:
                statement = statement.replace(f" {prefix}", " ").replace(f"({prefix}", "(")
            out.append(statement)
        return tuple(out)

    return ClonePlan(
        tables,
        table_options,
        unqualified(constraints),
        unqualified(indexes),
        tuple(functions),
        unqualified(triggers),
        tuple(data_tables),
        identity_columns,
    )


def schema_clone(*, source: str, target: str) -> None:
    """Create schema `target` as a copy of `source` (structure, functions, triggers and rows), atomically."""
    with transaction.atomic(), connection.cursor() as cursor:
        key = (source, _migration_count(cursor, source))
        plan = _plans.get(key)
        if plan is None:
            plan = _build_plan(cursor, source)
            with _lock:
                _plans.clear()  # only the current template state is worth keeping
                _plans[key] = plan
        src, dst = _q(source), _q(target)
        script = [f"CREATE SCHEMA {dst}", f"SET LOCAL search_path = {dst}, public"]
        script += [
            f"CREATE TABLE {dst}.{_q(table)} (LIKE {src}.{_q(table)} INCLUDING DEFAULTS INCLUDING IDENTITY "
            f"INCLUDING GENERATED INCLUDING STORAGE INCLUDING COMMENTS)"
            + (f" WITH ({plan.table_options[table]})" if table in plan.table_options else "")
            for table in plan.tables
        ]
        script += plan.functions + plan.constraints + plan.indexes + plan.triggers
        script += [
            f"INSERT INTO {dst}.{_q(table)} OVERRIDING SYSTEM VALUE SELECT * FROM {src}.{_q(table)}"
            for table in plan.data_tables
        ]
        script += [
            f"SELECT setval(pg_get_serial_sequence('{dst}.{_q(table)}', '{column}'), "
            f"(SELECT max({_q(column)}) FROM {dst}.{_q(table)}))"
            for table, column in plan.identity_columns
            if table in plan.data_tables
        ]
        # One round trip: the statements are ours (names quoted, definitions from the catalogue), no user input.
        cursor.execute(";\n".join(script))
    connection.set_schema_to_public()  # SET LOCAL ended with the transaction; make django-tenants agree
