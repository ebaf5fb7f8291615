"""django-tenants' PostgreSQL backend, sending `SET search_path` only when the session's is another one.

django-tenants forgets the search_path whenever a request (or a task) selects its brand, so every request costs a
`SET search_path` round trip even when the thread's connection already serves that brand. This wrapper remembers
what the database session has, and skips the SET when the schema asked for is the one the session already has,
outside a transaction only: inside one, a `SET LOCAL` (schema cloning, migrations) may be in force, so the SET is
always sent there. What the session has is forgotten whenever it may have changed behind our back: a new
connection, a close, a rollback (a SET in an aborted transaction is undone) or a rollback to a savepoint.

`execute_fetchone(sql, params)`: one statement and its first row, for the hottest calls (the points ledger's SQL
functions), without the Python of Django's cursor wrapper when nothing needs it, and for a `Prepared` statement
without parsing and planning it again at every call. See its docstring.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls

_NO_SUCH_STATEMENT = "26000"  # invalid_sql_statement_name: EXECUTE of a name the session does not have


class Prepared:
    """A statement execute_fetchone prepares once a database session (PREPARE) and then runs by name (EXECUTE), so
    PostgreSQL does not parse, resolve and plan it at every call. `sql` is written as for cursor.execute, with one
    `%s` a parameter and no other `%`; `types` are the parameters' SQL types, in order. The name is a hash of both,
    so changed SQL is prepared under a new name. A prepared statement is re-analysed by PostgreSQL when the search
    path or an object it uses changed, as an unprepared one would be."""

    def __init__(self, sql: str, types: Sequence[str]):
        self.sql = sql
        self.name = "ekr_" + hashlib.sha256(f"{sql}\n{list(types)}".encode()).hexdigest()[:20]
        self.prepare = f"PREPARE {self.name} ({', '.join(types)}) AS " + sql % tuple(
            f"${n}" for n in range(1, len(types) + 1)
        )
        self.execute = f"EXECUTE {self.name} ({', '.join(['%s'] * len(types))})"


class DatabaseWrapper(TenantDatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self._session_search_path: list[str] | None = None
        self._session_prepared: set[str] = set()  # names of the statements this database session has prepared
        super().__init__(*args, **kwargs)

    def _handle_search_path(self, cursor=None):
        if (
            self.search_path_set_schemas is None
            and not self._setting_search_path
            and not self.in_atomic_block
            and self.schema_name
            and self._session_search_path is not None
            and self._session_search_path == self._get_cursor_search_paths()
        ):
            self.search_path_set_schemas = self._session_search_path
            return
        super()._handle_search_path(cursor)
        if self.search_path_set_schemas is not None:
            self._session_search_path = list(self.search_path_set_schemas)

    def execute_fetchone(self, sql: str | Prepared, params) -> tuple | None:
        """`with self.cursor() as c: c.execute(sql, params); return c.fetchone()`, with less Python, and for a
        `Prepared` statement less PostgreSQL.

        When this connection is open, its health check done, and django-tenants holds the search path as set for the
        brand selected now (`search_path_set_schemas`: cleared by every set_tenant, close, rollback and savepoint
        rollback, so a cursor of its own would send no SET either), the statement runs on a driver cursor of this
        connection directly, with what Django's cursor wrapper would check and do around it: the thread check, the
        refusal inside a broken transaction, and database errors re-raised as Django's (the driver's error as
        __cause__, `errors_occurred` set). A `Prepared` statement is prepared first if this session has not yet
        (a new connection has not); if the session lost it (DEALLOCATE, DISCARD), the call prepares it again and
        retries outside a transaction, and raises inside one (whose statements then fail until it is rolled back).
        Anything else (no connection yet, a brand just selected, queries being logged or captured, execute
        wrappers installed, a health check due) goes through `self.cursor()`, with a Prepared statement's SQL as is.
        """
        if (
            self.connection is None
            or not self.search_path_set_schemas
            or self._setting_search_path
            or not get_limit_set_calls()  # django-tenants then sends the SET for every cursor
            or self.execute_wrappers
            or self.queries_logged
            or (self.health_check_enabled and not self.health_check_done)
        ):
            with self.cursor() as cursor:
                cursor.execute(sql.sql if isinstance(sql, Prepared) else sql, params)
                return cursor.fetchone()
        self.validate_thread_sharing()
        self.validate_no_broken_transaction()
        with self.wrap_database_errors:
            cursor = self.create_cursor()
            try:
                if not isinstance(sql, Prepared):
                    cursor.execute(sql, params)
                    return cursor.fetchone()
                return self._prepared_fetchone(cursor, sql, params)
            finally:
                cursor.close()

    def _prepared_fetchone(self, cursor, statement: Prepared, params) -> tuple | None:
        if statement.name not in self._session_prepared:
            cursor.execute(statement.prepare)  # not transactional: it stays even if this transaction rolls back
            self._session_prepared.add(statement.name)
        try:
            cursor.execute(statement.execute, params)
        except self.Database.Error as exc:
            if getattr(exc, "pgcode", None) != _NO_SUCH_STATEMENT:
                raise
            self._session_prepared.clear()  # the session lost its prepared statements
            if not self.get_autocommit():
                raise  # the transaction is aborted: the caller's to roll back
            cursor.execute(statement.prepare)  # nothing ran: prepare again and run it
            self._session_prepared.add(statement.name)
            cursor.execute(statement.execute, params)
        return cursor.fetchone()

    def get_new_connection(self, conn_params):
        self._session_search_path = None
        self._session_prepared = set()
        return super().get_new_connection(conn_params)

    def close(self):
        self._session_search_path = None
        self._session_prepared = set()
        super().close()

    def rollback(self):
        self._session_search_path = None
        super().rollback()

    def savepoint_rollback(self, sid):
        self._session_search_path = None
        super().savepoint_rollback(sid)
