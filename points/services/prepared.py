"""Server-side prepared statements for the ledger's hot path: planned once per database connection, then only
executed. Planning the debit statement costs about as much as running it (bench/points.py measures the path).

Safe with one schema per brand: the SQL names tables unqualified and PostgreSQL re-plans a prepared statement
when search_path changes (PREPARE documentation, since 9.3). Like `SET search_path` itself, it needs session
pooling (a transaction-mode pooler would hand the statement to another session); SECURITY.md already requires
session pooling.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections

_names = itertools.count()
_PARAM = re.compile(r"%\((\w+)\)s")


class PreparedStatement:
    """`sql` with %(name)s parameters, each given a PostgreSQL type in `types`."""

    def __init__(self, sql: str, types: dict[str, str]):
        self.name = f"points_stmt_{next(_names)}"
        self.params: list[str] = []

        def placeholder(match: re.Match) -> str:
            if match.group(1) not in self.params:
                self.params.append(match.group(1))
            return f"${self.params.index(match.group(1)) + 1}"

        body = _PARAM.sub(placeholder, sql)
        self.prepare_sql = f"PREPARE {self.name} ({', '.join(types[p] for p in self.params)}) AS {body}"
        self.execute_sql = f"EXECUTE {self.name} ({', '.join(['%s'] * len(self.params))})"

    def execute(self, cursor, params: dict[str, Any]) -> None:
        prepared = _prepared_on_this_connection()
        if self.name not in prepared:
            cursor.execute(self.prepare_sql)
            prepared.add(self.name)
        cursor.execute(self.execute_sql, [params[p] for p in self.params])


def _prepared_on_this_connection() -> set[str]:
    """Names prepared on the current database session (a new session starts with none)."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # this thread's wrapper (django.db.connection is a shared proxy)
    raw = wrapper.connection
    state = getattr(wrapper, "_points_prepared", None)
    if state is None or state[0] is not raw:
        state = (raw, set())
        wrapper._points_prepared = state
    return state[1]
