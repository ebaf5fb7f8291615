"""Mini-program visits: one row per member per day (the fact analytics counts as online activity)."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.utils import timezone

from members.models import MemberVisit


def member_visit_record(*, member_id: int, at: dt.datetime | None = None) -> None:
    """Record that the member used the mini-program on the day of `at` (Asia/Shanghai; default now).

    One statement, no read first, no row lock: a second call the same day does nothing (ON CONFLICT DO NOTHING),
    so the session endpoint can call it on every login at the cost of one index probe.
    """
    day = timezone.localdate(at or timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {MemberVisit._meta.db_table} (member_id, day) VALUES (%s, %s) "
            "ON CONFLICT (member_id, day) DO NOTHING",
            [member_id, day],
        )
