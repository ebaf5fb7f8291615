"""Output of hot read paths that shape `.values()` rows without DRF serializers: the same text DRF's fields write.

A list endpoint that answers many rows on every screen of the mini-program (a shop's catalog, the live rooms) reads
`.values()` rows and shapes them with these, instead of building a model instance per row and a serializer field
call per column; a hot single-object read (/mp/me, /mp/points) writes its dict with them too. What they write is
what `serializers.DateTimeField()` writes.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


def datetime_text(value: dt.datetime | None, tz: dt.tzinfo | None = None) -> str | None:
    """An aware datetime in `tz` (default: the current time zone, Asia/Shanghai), ISO 8601, as DRF's
    `DateTimeField(default_timezone=tz)` writes it."""
    if value is None:
        return None
    text = value.astimezone(tz or timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text
