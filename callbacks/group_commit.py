"""Group commit of inbox rows: the callbacks that arrive together in a process are written by one INSERT and one
commit, and each request answers WeChat only once its own row is durable.

Why: a callback's only unavoidable database work is one durable INSERT, and a commit waits for the WAL to reach
the disk. Committed one by one, those waits are what limits a callbacks process (bench/callbacks.py); committed
together, many rows share one.

How: each process has one writer thread (started on first use and again in a forked child, so gunicorn's workers
each get their own) with its own database connection in the public schema, where the inbox lives. A request hands
its row to the writer and waits. The writer takes whatever rows wait, writes them with one
`INSERT ... ON CONFLICT (appid, dedup_key) DO NOTHING RETURNING`, which commits on its own (autocommit), then
runs each new row's `after_commit` and wakes every request. There is no timer: a row arriving alone is written at
once, and the rows arriving while a batch commits make up the next batch.

The promises:
- A request is told its row is stored only after the statement that wrote it committed. A row refused or not
  committed makes its request raise the error it would have raised writing the row itself (an unreachable database
  is an OperationalError: the view answers 503 and WeChat delivers again).
- Exactly one effect per (appid, dedup key): two deliveries of one event in the same batch are written once (the
  first request gets `created`, the others the same row, not created); a delivery of an event stored before gets
  the stored row, not created. `after_commit` runs for created rows only.
- One bad row does not fail its neighbours: when a batch fails, its rows are written again one by one, each with
  its own outcome. A lost connection is replaced before that (after a PostgreSQL restart the next batch succeeds).
  If a commit's answer is lost with the connection, the rewrite finds the row stored and reports it not created:
  nothing is queued for it then, and the sweeper queues it (the row stays `received`).
- Inside a caller's transaction none of this is used: the row must commit or roll back with that transaction
  (callbacks.services.callback_receive writes it directly there).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DEFAULT_DB_ALIAS, DatabaseError, IntegrityError, InterfaceError, OperationalError, connections
from django.db.models import Q

from callbacks.models import CallbackEvent

logger = logging.getLogger(__name__)

MAX_BATCH = 500  # rows per statement at most
WAIT_SECONDS = 30.0  # a request gives up waiting after this (a stuck database): longer than any timeout in front

_TABLE = CallbackEvent._meta.db_table
_FIELDS = [f for f in CallbackEvent._meta.concrete_fields if not f.primary_key]
_COLUMNS = ", ".join(connections[DEFAULT_DB_ALIAS].ops.quote_name(f.column) for f in _FIELDS)
_ROW = "(" + ", ".join(["%s"] * len(_FIELDS)) + ")"


@dataclass(eq=False)
class _Pending:
    """One request's row, waiting for the writer."""

    event: CallbackEvent
    after_commit: Callable[[CallbackEvent], None] | None
    done: threading.Event = field(default_factory=threading.Event)
    row: CallbackEvent | None = None
    created: bool = False
    error: BaseException | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.event.appid, self.event.dedup_key)

    def finish(self, row: CallbackEvent | None, created: bool, error: BaseException | None) -> None:
        self.row, self.created, self.error = row, created, error
        self.done.set()


@dataclass
class Stats:
    """Counters of this process's writer, for tests and benches: `batches` statements that committed rows of
    several requests at once or one alone, `rows` rows they created, `fallbacks` batches written again row by row."""

    batches: int = 0
    rows: int = 0
    fallbacks: int = 0


class InboxWriter:
    def __init__(self, *, max_batch: int = MAX_BATCH, wait_seconds: float = WAIT_SECONDS):
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self.stats = Stats()
        self._queue: queue.SimpleQueue[_Pending] | None = None
        self._in_hand = 0
        self._pid: int | None = None
        self._lock = threading.Lock()

    def write(
        self, event: CallbackEvent, *, after_commit: Callable[[CallbackEvent], None] | None = None
    ) -> tuple[CallbackEvent, bool]:
        """Store `event` (validated, unsaved, with a dedup key) and return (row, created) once it is committed.
        `after_commit(row)` runs on the writer thread after the commit, if the row was created; it must not block."""
        pending = _Pending(event, after_commit)
        self._started().put(pending)
        if not pending.done.wait(self.wait_seconds):
            raise OperationalError(f"the inbox writer did not answer within {self.wait_seconds:.0f} s")
        if pending.error is not None:
            raise pending.error
        assert pending.row is not None
        return pending.row, pending.created

    def waiting(self) -> int:
        """Requests handed over and not answered yet (this process)."""
        return (self._queue.qsize() if self._queue is not None else 0) + self._in_hand

    def _started(self) -> queue.SimpleQueue[_Pending]:
        if self._pid != os.getpid():  # first use in this process (or a forked child: threads do not survive fork)
            with self._lock:
                if self._pid != os.getpid():
                    self._queue = queue.SimpleQueue()
                    self._in_hand = 0
                    threading.Thread(target=self._run, name="callbacks-inbox-writer", daemon=True).start()
                    self._pid = os.getpid()
        assert self._queue is not None
        return self._queue

    def _run(self) -> None:
        assert self._queue is not None
        own = self._queue
        while True:
            batch = [own.get()]  # waits while idle; then takes what else is waiting, without waiting for more
            while len(batch) < self.max_batch:
                try:
                    batch.append(own.get_nowait())
                except queue.Empty:
                    break
            self._in_hand = len(batch)
            try:
                self._write(batch)
            except BaseException as exc:  # never leave a request waiting (a bug here is a 500, not a hang)
                logger.exception("inbox writer failed")
                for pending in batch:
                    if not pending.done.is_set():
                        pending.finish(None, False, exc)
            finally:
                self._in_hand = 0

    def _write(self, batch: list[_Pending]) -> None:
        groups: dict[tuple[str, str], list[_Pending]] = {}
        for pending in batch:  # deliveries of one event in this batch: the first is written, the others follow it
            groups.setdefault(pending.key, []).append(pending)
        firsts = [group[0] for group in groups.values()]
        outcomes: dict[tuple[str, str], BaseException | None] = {}
        try:
            created = self._insert([p.event for p in firsts])
        except DatabaseError as exc:
            logger.warning("inbox batch of %s rows failed (%s); writing them one by one", len(firsts), exc)
            self.stats.fallbacks += 1
            created = set()
            for pending in firsts:
                try:
                    created |= self._insert([pending.event])
                except DatabaseError as row_exc:
                    outcomes[pending.key] = row_exc
        stored = self._stored([key for key in groups if key not in created and key not in outcomes])
        for key, group in groups.items():
            first = group[0]
            if key in created and first.after_commit is not None:
                try:
                    first.after_commit(first.event)
                except Exception:  # the row is stored: the sweeper queues what was not handed over
                    logger.exception("after-commit of callback %s failed", first.event.id)
        for key, group in groups.items():
            error = outcomes.get(key)
            row = group[0].event if key in created else stored.get(key)
            if error is None and row is None:  # refused without an error and not there: as a lone INSERT would
                error = IntegrityError(f"callback {key} conflicted with a row that is not there")
            for n, pending in enumerate(group):
                pending.finish(row, key in created and n == 0, error)

    def _insert(self, events: list[CallbackEvent]) -> set[tuple[str, str]]:
        """One statement, committed on its own; sets id and received_at on the rows it created and returns their
        keys. A lost connection is replaced and the statement sent once more (it is idempotent)."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                params: list = []
                for event in events:
                    params += [f.get_db_prep_save(f.pre_save(event, add=True), conn) for f in _FIELDS]
                with conn.cursor() as cursor:
                    cursor.execute(
                        f"INSERT INTO {_TABLE} ({_COLUMNS}) VALUES {', '.join([_ROW] * len(events))} "
                        "ON CONFLICT (appid, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING "
                        "RETURNING id, appid, dedup_key, received_at",
                        params,
                    )
                    returned = cursor.fetchall()
                break
            except (OperationalError, InterfaceError):
                if attempt == 2 or (conn.connection is not None and conn.is_usable()):
                    raise
                conn.close()
        self.stats.batches += 1
        self.stats.rows += len(returned)
        by_key = {(e.appid, e.dedup_key): e for e in events}
        for row_id, appid, dedup_key, received_at in returned:
            event = by_key[(appid, dedup_key)]
            event.id, event.received_at = row_id, received_at
            event._state.adding = False
        return set(by_key.keys() & {(appid, key) for _, appid, key, _ in returned})

    def _stored(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], CallbackEvent]:
        """The rows already stored under these keys (deliveries of events stored before)."""
        if not keys:
            return {}
        match = Q()
        for appid, dedup_key in keys:
            match |= Q(appid=appid, dedup_key=dedup_key)
        self._connection()
        return {(row.appid, row.dedup_key): row for row in CallbackEvent.objects.filter(match)}

    @staticmethod
    def _connection():
        """This thread's connection (its own, not a request's), in the public schema, closed when past its
        CONN_MAX_AGE or broken, without a health-check query before every batch."""
        conn = connections[DEFAULT_DB_ALIAS]
        if conn.connection is not None and (
            conn.errors_occurred or (conn.close_at is not None and time.monotonic() >= conn.close_at)
        ):
            if conn.errors_occurred and conn.is_usable():
                conn.errors_occurred = False
            else:
                conn.close()
        conn.set_schema_to_public()
        return conn
