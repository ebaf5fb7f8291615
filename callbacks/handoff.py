"""Hands stored callbacks to the broker from a background thread, so that a slow or dead broker never delays
WeChat's answer (with the broker down, one publish takes ~5 s of redis-py retries: longer than WeChat waits).

Whatever is not handed over (broker down, queue full, process exiting) stays `received` in the inbox and the
sweeper queues it a little later: the inbox row, not this thread, is what makes sure nothing is lost.

The hand-off only moves items; what sending a batch means (publishing, marking rows queued) is the `send`
function callbacks.services gives it, so this module imports nothing of the app.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import close_old_connections

logger = logging.getLogger(__name__)

BATCH = 200
# One thread: a batch costs ~1 ms of CPU whatever its size (a publish per 50 events and one UPDATE), so fewer,
# fuller batches leave the process's CPU to requests; one thread still sends thousands of events a second.
THREADS = 1
LINGER_SECONDS = 0.1  # wait this long for more events after the first (processing starts at most this much later)


@dataclass(frozen=True)
class Item:
    event_id: int
    schema: str
    kind: str


class BrokerHandoff:
    """`send(batch)` hands a batch to the broker and returns the ids it published (fewer than the batch: the
    broker is unreachable, so what waits is dropped and left to the sweeper)."""

    def __init__(self, send: Callable[[list[Item]], list[int]], maxsize: int = 10_000):
        self._send_batch = send
        self.maxsize = maxsize
        self._queue: queue.Queue[Item] | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._unfinished = 0  # items submitted and not yet sent or given up on

    def submit(self, item: Item) -> None:
        """Never blocks and never raises."""
        self._count(1)
        try:
            self._started().put_nowait(item)
        except queue.Full:
            self._count(-1)
            logger.warning("callback %s left for the sweeper: hand-off queue full", item.event_id)

    def pending(self) -> int:
        """Items submitted in this process and not yet sent or given up on (0: the hand-off is idle)."""
        return self._unfinished

    def _count(self, change: int) -> None:
        with self._lock:
            self._unfinished += change

    def _started(self) -> queue.Queue[Item]:
        if self._pid != os.getpid():  # first use in this process (or a forked child)
            with self._lock:
                if self._pid != os.getpid():
                    self._queue = queue.Queue(self.maxsize)
                    self._unfinished = 1  # the item being submitted (a forked child starts afresh)
                    for n in range(THREADS):
                        threading.Thread(target=self._run, name=f"callbacks-handoff-{n}", daemon=True).start()
                    self._pid = os.getpid()
        assert self._queue is not None
        return self._queue

    def _run(self) -> None:
        assert self._queue is not None
        while True:
            batch = [self._queue.get()]
            until = time.monotonic() + LINGER_SECONDS
            while len(batch) < BATCH:
                left = until - time.monotonic()
                if left <= 0:
                    break
                try:
                    batch.append(self._queue.get(timeout=left))
                except queue.Empty:
                    break
            try:
                self._send(batch)
            except Exception:
                logger.exception("callbacks hand-off failed; the sweeper will queue these")
            finally:
                close_old_connections()
                self._count(-len(batch))

    def _send(self, batch: list[Item]) -> None:
        sent = self._send_batch(batch)
        if len(sent) < len(batch):
            left = len(batch) - len(sent) + self._drop_waiting()
            logger.warning("broker unreachable: %s callback(s) left received for the sweeper", left)

    def _drop_waiting(self) -> int:
        """The broker is down: do not wait ~5 s per row; the rows stay received for the sweeper."""
        assert self._queue is not None
        dropped = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return dropped
            self._count(-1)
            dropped += 1
