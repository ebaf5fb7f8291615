"""Earning rules (rates, tiers, campaigns, birthdays, sign-up, one rounding rule) and the expiry policy."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ApplicationError
from points.models import Campaign, PointsEntry, PointsLot, PointsPolicy, StoreEarnRate
from points.services import (
    OrderFacts,
    earning_for_order,
    earning_preview,
    lot_expiry_for,
    points_adjust,
    points_earn,
    points_earn_for_order,
    points_reverse_for_reference,
    points_signup_bonus_grant,
)
from points.services.rules import points_for_order

SH = ZoneInfo("Asia/Shanghai")
PAID_AT = datetime(2026, 6, 18, 21, 0, tzinfo=SH)


def order(**changes) -> OrderFacts:
    return OrderFacts(**{"paid_fen": 9_999, "paid_at": PAID_AT, **changes})


def test_brand_default_is_one_point_per_yuan_rounded_down_once_per_order(alpha):
    assert earning_for_order(order=order()).points == 99  # 99.99 yuan
    assert earning_for_order(order=order(paid_fen=99)).points == 0


def test_rounding_happens_once_after_every_multiplier(alpha):
    # 10.50 yuan at 1.5x tier: floor(15.75) = 15, not floor(10.5)=10 * 1.5 = 15.0 nor round(10.5)*1.5 = 16.5
    assert earning_for_order(order=order(paid_fen=1_050, tier_multiplier_pct=150)).points == 15
    # 0.67 yuan at 300% points-per-yuan: floor(2.01) = 2, where rounding the yuan first would give 0
    StoreEarnRate.objects.create(store_code="S3", points_per_yuan_pct=300)
    assert earning_for_order(order=order(paid_fen=67, store_code="S3")).points == 2


def test_store_override_replaces_the_brand_rate(alpha):
    PointsPolicy.objects.create(pk=1, points_per_yuan_pct=100)
    StoreEarnRate.objects.create(store_code="SH01", points_per_yuan_pct=10)  # 1 point per 10 yuan

    at_store = earning_for_order(order=order(store_code="SH01"))
    elsewhere = earning_for_order(order=order(store_code="BJ01"))

    assert (at_store.points, at_store.rate_source) == (9, "store")
    assert (elsewhere.points, elsewhere.rate_source) == (99, "brand")


def test_campaigns_apply_by_date_store_and_tier_and_do_not_stack(alpha):
    Campaign.objects.create(
        name="618", multiplier_pct=200, starts_on=date(2026, 6, 18), ends_on=date(2026, 6, 18), is_active=True
    )
    Campaign.objects.create(
        name="Gold at SH01",
        multiplier_pct=300,
        starts_on=date(2026, 6, 1),
        ends_on=date(2026, 6, 30),
        store_codes=["SH01"],
        tier_codes=["gold"],
        is_active=True,
    )
    Campaign.objects.create(name="Off", multiplier_pct=1000, starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 30))

    assert earning_for_order(order=order()).points == 199  # 99.99 yuan x 2 = 199.98
    assert earning_for_order(order=order(store_code="SH01", tier_code="gold")).points == 299
    assert earning_for_order(order=order(store_code="SH01", tier_code="silver")).points == 199
    next_day = earning_for_order(order=order(paid_at=datetime(2026, 6, 19, 0, 30, tzinfo=SH)))
    assert next_day.points == 99  # 618 ended at midnight Shanghai time


def test_birthday_month_multiplier(alpha):
    PointsPolicy.objects.create(pk=1, birthday_month_multiplier_pct=200)

    assert earning_for_order(order=order(birthday_month=6)).points == 199
    assert earning_for_order(order=order(birthday_month=7)).points == 99
    assert earning_for_order(order=order(birthday_month=None)).points == 99


def test_pure_rules_multiply_everything_then_floor():
    policy = PointsPolicy(points_per_yuan_pct=100, birthday_month_multiplier_pct=150)
    campaign = Campaign(
        pk=7,
        name="c",
        multiplier_pct=200,
        starts_on=date(2026, 6, 1),
        ends_on=date(2026, 6, 30),
        store_codes=[],
        tier_codes=[],
    )

    result = points_for_order(
        order=order(paid_fen=333, tier_multiplier_pct=120, birthday_month=6),
        policy=policy,
        store_rate_pct=None,
        campaigns=[campaign],
    )

    assert result.points == 3.33 * 1.2 * 2 * 1.5 // 1 == 11
    assert result.campaign_id == 7


@pytest.mark.parametrize(
    "changes",
    [{"paid_fen": -1}, {"birthday_month": 13}, {"tier_multiplier_pct": -5}, {"paid_at": datetime(2026, 1, 1)}],
)
def test_invalid_orders_are_refused(alpha, changes):
    with pytest.raises(ApplicationError) as caught:
        earning_for_order(order=order(**changes))
    assert caught.value.code == "invalid_order"


def test_preview_of_an_inactive_campaign_and_a_new_rate_changes_nothing(alpha):
    draft = Campaign.objects.create(
        name="draft", multiplier_pct=300, starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 30), is_active=False
    )

    preview = earning_preview(order=order(), campaign=draft, policy_changes={"points_per_yuan_pct": 200})

    assert preview["current"].points == 99
    assert preview["proposed"].points == 9_999 * 200 * 300 // 100**3 == 599
    assert not Campaign.objects.get(pk=draft.pk).is_active
    assert not PointsPolicy.objects.exists()


def test_order_earning_is_idempotent_even_if_rules_change_and_reversible(member):
    first = points_earn_for_order(member=member, order_id="SO-1", order=order())
    Campaign.objects.create(
        name="now", multiplier_pct=200, starts_on=date(2026, 6, 1), ends_on=date(2026, 6, 30), is_active=True
    )

    again = points_earn_for_order(member=member, order_id="SO-1", order=order())
    refund = points_reverse_for_reference(
        member=member, reference="SO-1", idempotency_key="refund:SO-1", reason="refund"
    )

    assert again.pk == first.pk and first.amount == 99 and again.replayed
    assert refund.amount == -99
    assert PointsLot.objects.get(entry_id=first.pk).expires_at == datetime(2027, 6, 19, tzinfo=SH)


def test_order_earning_nothing_writes_nothing(member):
    assert points_earn_for_order(member=member, order_id="SO-0", order=order(paid_fen=50)) is None
    assert not PointsEntry.objects.filter(member=member).exists()


def test_signup_bonus_is_granted_once(member):
    assert points_signup_bonus_grant(member=member) is None  # no bonus by default
    PointsPolicy.objects.create(pk=1, signup_bonus_points=88)

    first = points_signup_bonus_grant(member=member)
    again = points_signup_bonus_grant(member=member)

    assert first.amount == 88 and again.pk == first.pk
    assert PointsEntry.objects.filter(member=member).count() == 1


@pytest.mark.parametrize(
    "mode, months, earned, expires",
    [
        ("months", 12, datetime(2026, 3, 15, 23, 59, tzinfo=SH), datetime(2027, 3, 16, tzinfo=SH)),
        ("months", 1, datetime(2026, 1, 31, 8, 0, tzinfo=SH), datetime(2026, 3, 1, tzinfo=SH)),  # Feb 28, end of day
        ("end_of_next_year", 12, datetime(2026, 1, 1, 0, 0, tzinfo=SH), datetime(2028, 1, 1, tzinfo=SH)),
        (
            "end_of_next_year",
            12,
            datetime(2026, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC")),
            datetime(2029, 1, 1, tzinfo=SH),
        ),
        ("never", 12, datetime(2026, 1, 1, tzinfo=SH), None),
    ],
)
def test_expiry_policy(mode, months, earned, expires):
    policy = PointsPolicy(expiry_mode=mode, expiry_months=months)
    assert lot_expiry_for(earned_at=earned, policy=policy) == expires


def test_expiry_policy_is_read_from_the_brand(member):
    PointsPolicy.objects.create(pk=1, expiry_mode="end_of_next_year")
    entry = points_earn_for_order(member=member, order_id="SO-2", order=order())
    assert PointsLot.objects.get(entry_id=entry.pk).expires_at == datetime(2028, 1, 1, tzinfo=SH)


def test_plain_earn_and_credit_adjust_use_the_brand_expiry_policy(member, hq_user):
    from django.utils import timezone

    PointsPolicy.objects.create(pk=1, expiry_mode="never")
    earned = points_earn(member=member, points=5, idempotency_key="k-pol-1", reason="a")
    PointsPolicy.objects.filter(pk=1).update(expiry_mode="end_of_next_year")
    adjusted = points_adjust(member=member, points=5, idempotency_key="k-pol-2", actor=hq_user, reason="fix")

    assert PointsLot.objects.get(entry_id=earned.pk).expires_at is None
    next_next_year = timezone.localdate(timezone.now(), SH).year + 2
    assert PointsLot.objects.get(entry_id=adjusted.pk).expires_at == datetime(next_next_year, 1, 1, tzinfo=SH)
