"""A small per-process cache with a time to live and a hard size bound (least recently used out first).

Web and worker processes keep a few look-ups in memory (host -> brand, appid -> WeChat app). With 500 brands,
and hosts or appids that anyone can send, such a cache must stay bounded whatever arrives: a flood of unknown
keys evicts the least recently used entries, never grows the process, and never evicts everything at once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

V = TypeVar("V")
_MISSING = object()


class BoundedTTLCache(Generic[V]):
    def __init__(self, *, max_entries: int, ttl: Callable[[], float]):
        """`ttl()` gives the seconds an entry lives (read at each write, so a setting can change it; 0: no
        caching)."""
        self.max_entries = max_entries
        self._ttl = ttl
        self._data: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, default: Any = _MISSING) -> Any:
        """The live value for `key`, or `default` (a sentinel by default: test with `is BoundedTTLCache.MISSING`)."""
        if not self._ttl():
            return default
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return default
            if hit[0] <= time.monotonic():
                del self._data[key]
                return default
            self._data.move_to_end(key)
            return hit[1]

    def set(self, key: Hashable, value: V) -> None:
        ttl = self._ttl()
        if not ttl:
            return
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.max_entries:
                self._data.popitem(last=False)

    def pop(self, key: Hashable) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    MISSING = _MISSING
