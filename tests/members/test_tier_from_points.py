"""Earning points re-checks the member's tier: upgrade as soon as the trailing 12 months meet a threshold."""
from django.db import connection

from core.tasks import _redis, coalesce_key
from members.services import member_register
from members.services.tiers import TIER_EVAL, member_tier_refresh
from points.services import points_earn


def test_earning_to_the_threshold_upgrades_the_member(world, django_capture_on_commit_callbacks):
    member, _ = member_register(openid="o-tier-pts", phone="13700000001")
    _redis().delete(coalesce_key(connection.schema_name, TIER_EVAL, member.pk))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        points_earn(member=member, points=600, idempotency_key="tier-e1", reason="purchase")
        points_earn(member=member, points=400, idempotency_key="tier-e2", reason="purchase")
    assert callbacks, "earning queues a tier check after commit"

    refreshed = member_tier_refresh(member_id=member.pk)

    assert refreshed.tier_id == world.gold.pk
    assert refreshed.earned_points_12m == 1000
    assert refreshed.tier_history.filter(to_level=world.gold).exists()


def test_points_below_the_threshold_leave_the_tier(world):
    member, _ = member_register(openid="o-tier-pts2", phone="13700000002")
    before = member.tier_id
    points_earn(member=member, points=999, idempotency_key="tier-e3", reason="purchase")

    assert member_tier_refresh(member_id=member.pk).tier_id == before
