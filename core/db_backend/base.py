"""django-tenants' PostgreSQL backend, sending `SET search_path` only when the session's is another one.

django-tenants forgets the search_path whenever a request (or a task) selects its brand, so every request costs a
`SET search_path` round trip even when the thread's connection already serves that brand. This wrapper remembers
what the database session has, and skips the SET when the schema asked for is the one the session already has,
outside a transaction only: inside one, a `SET LOCAL` (schema cloning, migrations) may be in force, so the SET is
always sent there. What the session has is forgotten whenever it may have changed behind our back: a new
connection, a close, a rollback (a SET in an aborted transaction is undone) or a rollback to a savepoint.

The health check (CONN_HEALTH_CHECKS, once per request before the first query) costs no round trip either: Django
sends `SELECT 1`, a fifth of a short request's time. Between requests the connection is idle in autocommit, and
the server says nothing to an idle session unless it is going away (a FATAL message for a terminated backend or a
restart, then EOF): a socket with anything to read, a connection not idle or closed, fails the check and Django
opens a new connection. A peer that vanished without a word (no FIN) passes, as it would pass until the next
statement anyway; its first query fails instead.
"""

from __future__ import annotations

import select

from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantDatabaseWrapper
from psycopg2.extensions import TRANSACTION_STATUS_IDLE


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

    def is_usable(self):
        conn = self.connection
        if conn is None or conn.closed or conn.info.transaction_status != TRANSACTION_STATUS_IDLE:
            return False
        try:
            readable, _, _ = select.select([conn], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

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
