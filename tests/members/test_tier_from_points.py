"""Earning points re-checks the member's tier: upgrade as soon as the trailing 12 months meet a threshold."""

from django.db import connection

from core.redis_client import redis_client as _redis
from core.tasks import coalesce_key
from members.models import Member
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


def test_a_paid_order_queues_one_tier_check_which_sees_its_spend(world, django_capture_on_commit_callbacks):
    """A paid order earns points and counts as spend. The earning asks for the tier check through its account row
    (points_credit's mark, in the transaction that marks the order paid), which queues the brand's sweep of marks;
    the order asks for no second check, and the one check, the sweep's, run after the commit, sees the amount spent."""
    from unittest import mock

    from django.utils import timezone

    from core.tasks import task_named
    from members.services.tiers import TIER_CHECKS, member_tier_checks_run
    from miniprograms.models import Order
    from miniprograms.services.loyalty import points_for_paid_order

    member, _ = member_register(openid="o-tier-paid", phone="13700000004")
    _redis().delete(coalesce_key(connection.schema_name, TIER_EVAL, member.pk))
    _redis().delete(coalesce_key(connection.schema_name, TIER_CHECKS, 0))
    order = Order.objects.create(
        number="T-PAID-1",
        status=Order.Status.PAID,
        store=world.s1,
        member=member,
        subtotal_fen=100_000,
        total_fen=100_000,
        paid_at=timezone.now(),
    )
    sent = []
    with (
        mock.patch.object(
            task_named("members.tier_refresh"), "apply_async", side_effect=lambda *a, **kw: sent.append(1)
        ),
        mock.patch.object(
            task_named("members.tier_checks_run"), "apply_async", side_effect=lambda *a, **kw: sent.append(0)
        ),
    ):
        with django_capture_on_commit_callbacks(execute=True):
            points_for_paid_order(order=order)

    assert sent == [0]  # one sweep, no check of the member of its own
    assert member_tier_checks_run() == (1, False)
    refreshed = Member.objects.get(pk=member.pk)
    assert (refreshed.spent_fen_12m, refreshed.tier_id) == (100_000, world.gold.pk)
    _redis().delete(coalesce_key(connection.schema_name, TIER_CHECKS, 0))
