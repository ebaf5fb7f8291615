"""With a real Celery worker: earnings of several members queue one sweep of the brand's tier marks, which the
worker runs (the task as queued, its arguments included) and which upgrades each member; and beat's fan-out of the
sweep finds a mark whose sweep was never sent."""

from __future__ import annotations

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from core.tasks import fan_out_to_brands
from members.models import Member
from members.services import card_level_create
from points.models import PointsAccount
from points.services import points_earn
from tests.helpers import wait_until

pytestmark = pytest.mark.worker

# points_credit as an earn calls it (a tier TTL), its tier_check_due left unanswered: a sweep that was never sent
CREDIT_SQL = "SELECT tier_check_due FROM points_credit(%s, 'earn', %s, %s, 'fp', '', 'r', NULL, now(), NULL, true, 60)"


def _tiers_of(ids) -> list:
    return sorted(Member.objects.filter(pk__in=ids).values_list("tier__name", flat=True), key=str)


def _marked() -> bool:
    return PointsAccount.objects.filter(tier_check_asked_at__isnull=False).exists()


def test_earnings_are_checked_by_the_swept_marks(new_brand, celery_worker_process):
    brand = new_brand("tsweep", with_app=False)
    with schema_context(brand.schema_name):
        card_level_create(name="silver", rank=1)
        card_level_create(name="gold", rank=2, threshold_points=100)
        members = [Member.objects.create(openid=f"o-sweep-{i}") for i in range(3)]
        for i, member in enumerate(members):  # each commits: the first queues the brand's sweep
            points_earn(member=member, points=100, idempotency_key=f"sweep-{i}", reason="order")

        wait_until(lambda: _tiers_of([m.pk for m in members]) == ["gold"] * 3, message="the sweep's upgrades")
        assert not _marked()

        late = Member.objects.create(openid="o-sweep-late")
        with connection.cursor() as cursor:
            cursor.execute(CREDIT_SQL, [late.pk, 100, "sweep-late"])
            assert cursor.fetchone()[0] is True  # due, and never sent
        fan_out_to_brands.apply_async(args=["members.tier_checks_run"], kwargs={"window_seconds": 1})

        wait_until(lambda: _tiers_of([late.pk]) == ["gold"], message="beat's sweep found the mark")
        assert not _marked()
