import datetime as dt

from members.models import Member, TierChange
from members.services import member_tier_evaluate, member_tier_review, tier_downgrade_due
from members.services.tiers import one_year_after
from points.services import points_earn


def test_upgrade_is_immediate_and_recorded(world, register):
    member = register("o-1", "13800138000")
    member_tier_evaluate(member=member, earned_points_12m=999, spent_fen_12m=0, reason="order 1")
    assert Member.objects.get(pk=member.pk).tier == world.silver
    member_tier_evaluate(member=member, earned_points_12m=10, spent_fen_12m=100_000, reason="order 2")
    member.refresh_from_db()
    assert member.tier == world.gold
    change = TierChange.objects.filter(member=member).first()
    assert (change.kind, change.from_level, change.to_level, change.reason) == (
        "upgrade",
        world.silver,
        world.gold,
        "order 2",
    )
    assert member.tier_review_at == one_year_after(member.tier_since)


def test_evaluate_never_downgrades(world, register):
    member = register("o-1", "13800138000")
    member_tier_evaluate(member=member, earned_points_12m=6000, spent_fen_12m=0, reason="big order")
    member_tier_evaluate(member=member, earned_points_12m=0, spent_fen_12m=0, reason="refund")
    assert Member.objects.get(pk=member.pk).tier == world.platinum


def test_downgrade_on_anniversary_only(world, register):
    member = register("o-1", "13800138000")
    member_tier_evaluate(member=member, earned_points_12m=6000, spent_fen_12m=0, reason="big order")
    member_tier_evaluate(member=member, earned_points_12m=1200, spent_fen_12m=0, reason="points expired")
    points_earn(member=member, points=1200, idempotency_key="tiers-dg-1", reason="purchase")  # the ledger's 12 months
    member.refresh_from_db()
    # before the anniversary nothing happens
    assert tier_downgrade_due(now=member.tier_review_at - dt.timedelta(seconds=1)) == 0
    assert Member.objects.get(pk=member.pk).tier == world.platinum
    # on it, down to the tier still met
    anniversary = member.tier_review_at
    assert tier_downgrade_due(now=anniversary) == 1
    member.refresh_from_db()
    assert member.tier == world.gold
    assert TierChange.objects.filter(member=member, kind="downgrade", to_level=world.gold).count() == 1
    # the next review is a year after the downgrade, not the day it happened
    assert (member.tier_since, member.tier_review_at) == (anniversary, one_year_after(anniversary))
    # reviewed again the same day, or a second before the next anniversary: nothing
    assert tier_downgrade_due(now=anniversary) == 0
    assert tier_downgrade_due(now=one_year_after(anniversary) - dt.timedelta(seconds=1)) == 0
    assert TierChange.objects.filter(member=member, kind="downgrade").count() == 1


def test_member_who_still_meets_the_tier_keeps_it_another_year(world, register):
    member = register("o-1", "13800138000")
    member_tier_evaluate(member=member, earned_points_12m=1500, spent_fen_12m=0, reason="order")
    points_earn(member=member, points=1500, idempotency_key="tiers-keep-1", reason="purchase")
    member.refresh_from_db()
    due = member.tier_review_at
    member_tier_review(member_id=member.pk, now=due)
    member.refresh_from_db()
    assert member.tier == world.gold and member.tier_review_at == one_year_after(due)
    assert TierChange.objects.filter(member=member, kind="downgrade").count() == 0
