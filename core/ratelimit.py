"""Atomic Redis counters for rate limits (DRF throttles are not a security control: DRF #8127).

Keys carry the schema, so one brand's traffic never spends another brand's budget.
"""

from __future__ import annotations

from django.db import connection
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from core.redis_client import redis_client


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int) -> None:
    """Count one hit for `key`; raise a 429 ApplicationError once `limit` hits fall in the current window."""
    name = f"ekr:rl:{connection.schema_name}:{scope}:{key}"
    pipe = redis_client().pipeline()  # MULTI/EXEC: the window starts with the first hit
    pipe.set(name, 0, ex=window_seconds, nx=True)
    pipe.incr(name)
    _created, count = pipe.execute()
    if count > limit:
        raise ApplicationError(_("Too many requests; slow down."), code="throttled", status_code=429)
