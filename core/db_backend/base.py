"""django-tenants' PostgreSQL backend, sending `SET search_path` only when the session's is another one.

django-tenants forgets the search_path whenever a request (or a task) selects its brand, so every request costs a
`SET search_path` round trip even when the thread's connection already serves that brand. This wrapper remembers
what the database session has, and skips the SET when the schema asked for is the one the session already has,
outside a transaction only: inside one, a `SET LOCAL` (schema cloning, migrations) may be in force, so the SET is
always sent there. What the session has is forgotten whenever it may have changed behind our back: a new
connection, a close, a rollback (a SET in an aborted transaction is undone) or a rollback to a savepoint.

`execute_fetchone(sql, params)`: one statement and its first row, for the hottest calls (the points ledger's SQL
functions), without the Python of Django's cursor wrapper when nothing needs it. See its docstring.
"""

from __future__ import annotations

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from django_tenants.utils import get_limit_set_calls


class DatabaseWrapper(TenantDatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self._session_search_path: list[str] | None = None
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

    def execute_fetchone(self, sql: str, params) -> tuple | None:
        """`with self.cursor() as c: c.execute(sql, params); return c.fetchone()`, with less Python.

        When this connection is open, its health check done, and django-tenants holds the search path as set for the
        brand selected now (`search_path_set_schemas`: cleared by every set_tenant, close, rollback and savepoint
        rollback, so a cursor of its own would send no SET either), the statement runs on a driver cursor of this
        connection directly, with what Django's cursor wrapper would check and do around it: the thread check, the
        refusal inside a broken transaction, and database errors re-raised as Django's (the driver's error as
        __cause__, `errors_occurred` set). Anything else (no connection yet, a brand just selected, queries being
        logged or captured, execute wrappers installed, a health check due) goes through `self.cursor()`.
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
                cursor.execute(sql, params)
                return cursor.fetchone()
        self.validate_thread_sharing()
        self.validate_no_broken_transaction()
        with self.wrap_database_errors:
            cursor = self.create_cursor()
            try:
                cursor.execute(sql, params)
                return cursor.fetchone()
            finally:
                cursor.close()

    def get_new_connection(self, conn_params):
        self._session_search_path = None
        return super().get_new_connection(conn_params)

    def close(self):
        self._session_search_path = None
        super().close()

    def rollback(self):
        self._session_search_path = None
        super().rollback()

    def savepoint_rollback(self, sid):
        self._session_search_path = None
        super().savepoint_rollback(sid)
