"""Earning points re-checks the member's tier: upgrade as soon as the trailing 12 months meet a threshold."""

from django.db import connection

from core.redis_client import redis_client as _redis
from core.tasks import coalesce_key
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


def test_amount_spent_in_paid_orders_upgrades_the_member(world):
    from django.utils import timezone

    from miniprograms.models import Order

    member, _ = member_register(openid="o-tier-spend", phone="13700000003")
    common = dict(store=world.s1, member=member, subtotal_fen=100_000, total_fen=100_000, paid_at=timezone.now())
    Order.objects.create(number="T-SPEND-1", status=Order.Status.PAID, **common)
    Order.objects.create(number="T-SPEND-2", status=Order.Status.REFUNDED, **common)  # does not count

    refreshed = member_tier_refresh(member_id=member.pk)

    assert refreshed.spent_fen_12m == 100_000
    assert refreshed.tier_id == world.gold.pk
