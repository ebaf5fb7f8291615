"""django-tenants' PostgreSQL backend, sending `SET search_path` only when the session's is another one.

django-tenants forgets the search_path whenever a request (or a task) selects its brand, so every request costs a
`SET search_path` round trip even when the thread's connection already serves that brand. This wrapper remembers
what the database session has, and skips the SET when the schema asked for is the one the session already has,
outside a transaction only: inside one, a `SET LOCAL` (schema cloning, migrations) may be in force, so the SET is
always sent there. What the session has is forgotten whenever it may have changed behind our back: a new
connection, a close, a rollback (a SET in an aborted transaction is undone) or a rollback to a savepoint.
"""

from __future__ import annotations

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper


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
