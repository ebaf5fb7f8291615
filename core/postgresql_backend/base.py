"""django-tenants' PostgreSQL backend, sending `SET search_path` only when the path the next statement needs differs
from the one the connection already has.

django-tenants forgets the connection's path on every `set_tenant()` (each request sets public, then its brand;
each `schema_context` sets a schema and back) and on every rollback, so with TENANT_LIMIT_SET_CALLS a request, a
saga step or a refused order still paid one `SET search_path` round trip per switch, and a prepared statement
was re-planned for each new path (issue 17). Here the path last sent on this connection is remembered:
`set_tenant()` to a schema whose path is already in place sends nothing. A rollback (or a rollback to a
savepoint) forgets it only when it may have undone it, i.e. when it was sent inside a transaction not yet
committed; a failed SET and a new connection forget it too, so the next statement sends it again.
"""

from __future__ import annotations

from django_tenants.postgresql_backend import base as tenants_base


class DatabaseWrapper(tenants_base.DatabaseWrapper):
    def __init__(self, *args, **kwargs):
        self._path_on_connection: list[str] | None = None
        self._path_committed = False  # sent in autocommit, or its transaction committed: no rollback undoes it
        super().__init__(*args, **kwargs)

    def set_tenant(self, tenant, include_public=True):
        super().set_tenant(tenant, include_public)
        self._reuse_path_on_connection()

    def _reuse_path_on_connection(self) -> None:
        if self._path_on_connection is not None and self._get_cursor_search_paths() == self._path_on_connection:
            self.search_path_set_schemas = self._path_on_connection

    def _handle_search_path(self, cursor=None):
        sent_before = self.search_path_set_schemas
        super()._handle_search_path(cursor)
        if self._setting_search_path or self.search_path_set_schemas is sent_before:
            return  # nothing was sent
        self._path_on_connection = self.search_path_set_schemas
        self._path_committed = self._path_on_connection is not None and self.get_autocommit()

    def close(self):
        self._path_on_connection = None
        super().close()

    def commit(self):
        super().commit()
        self._path_committed = self._path_on_connection is not None

    def rollback(self):
        if not self._path_committed:
            self._path_on_connection = None
        super().rollback()
        self._reuse_path_on_connection()

    def savepoint_rollback(self, sid):
        if not self._path_committed:
            self._path_on_connection = None
        try:
            super().savepoint_rollback(sid)
        finally:
            self._reuse_path_on_connection()
