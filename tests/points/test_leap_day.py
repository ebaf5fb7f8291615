"""Points earned on 29 February: when they expire under each policy, and the expiry run on the day."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from points.models import PointsEntry, PointsPolicy
from points.services import OrderFacts, points_earn_for_order, points_expire_due
from tests.points.ledger_checks import ledger_invariants_assert

SH = ZoneInfo("Asia/Shanghai")
LEAP_DAY = datetime(2024, 2, 29, 21, 30, tzinfo=SH)  # 13:30 UTC: the same day in both zones


@pytest.mark.parametrize(
    "mode, months, expires",
    [
        ("months", 12, datetime(2025, 3, 1, tzinfo=SH)),  # 28 Feb 2025 is the last day they count
        ("months", 1, datetime(2024, 3, 30, tzinfo=SH)),
        ("months", 48, datetime(2028, 3, 1, tzinfo=SH)),  # 29 Feb 2028 exists: through that day
        ("end_of_next_year", 12, datetime(2026, 1, 1, tzinfo=SH)),
    ],
)
def test_points_earned_on_29_february_expire_at_the_policys_day(member, mode, months, expires):
    PointsPolicy.objects.update_or_create(pk=1, defaults={"expiry_mode": mode, "expiry_months": months})
    entry = points_earn_for_order(member=member, order_id="LEAP-1", order=OrderFacts(paid_fen=12_300, paid_at=LEAP_DAY))
    assert entry.amount == 123
    assert member.points_account.lots.get().expires_at == expires

    # the run a second before: nothing; the run at that moment: all 123, once
    assert points_expire_due(now=expires - timedelta(seconds=1)) == 0
    assert ledger_invariants_assert(member) == 123
    assert points_expire_due(now=expires) == 1
    assert points_expire_due(now=expires + timedelta(days=1)) == 0
    assert [e.amount for e in PointsEntry.objects.filter(member=member, kind="expire")] == [-123]
    assert ledger_invariants_assert(member) == 0
