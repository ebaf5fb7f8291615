"""When points expire: the brand's expiry policy applied to the moment points were earned (Asia/Shanghai dates).

Points earned on day D expire at the end of D + N months, or at the end of the year after D's year, by the brand
policy. The ledger (crediting a lot) and the earning rules both read it; it imports neither.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

from points.models import PointsPolicy

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_date(moment: datetime) -> date:
    return timezone.localtime(moment, SHANGHAI).date()


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def policy_get() -> PointsPolicy:
    """The brand's policy (defaults, unsaved, until HQ saves one)."""
    return PointsPolicy.objects.filter(pk=1).first() or PointsPolicy(pk=1)


def lot_expiry_for(*, earned_at: datetime, policy: PointsPolicy | None = None) -> datetime | None:
    """When points earned at `earned_at` expire under the brand policy (None: never)."""
    policy = policy or policy_get()
    day = local_date(earned_at)
    if policy.expiry_mode == PointsPolicy.ExpiryMode.NEVER:
        return None
    if policy.expiry_mode == PointsPolicy.ExpiryMode.END_OF_NEXT_YEAR:
        return _start_of_day(date(day.year + 2, 1, 1))
    return _start_of_day(_add_months(day, policy.expiry_months) + timedelta(days=1))
