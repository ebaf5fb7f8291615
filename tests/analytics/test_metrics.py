"""Each formula of analytics.metrics on hand-made facts (the rollup stores exactly what they return)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django_tenants.utils import schema_context

from analytics import metrics
from analytics.models import BrandDay, GuideDay, StoreDay
from analytics.rollup import rollup_day, rollup_range
from tests.analytics.conftest import D, at, member, nonmember_sale, order, refund, visit

ONE = dt.timedelta(days=1)


def test_sales_split_online_pos_member_nonmember_by_store_guide_and_brand(world):
    with schema_context(world.schema):
        alice = member(joined=at(D - 30 * ONE), openid="o-alice")
        order(store=world.s1, paid=at(D, 9), total=1000, channel="online", member=alice, guide=world.g1)
        order(store=world.s1, paid=at(D, 10), total=500)  # POS, non-member
        order(store=world.s1, paid=at(D, 23, 30), total=300, member=alice)  # 15:30 UTC: still D
        order(store=world.s2, paid=at(D, 11), total=700, guide=world.g2)
        order(store=world.s1, paid=None, total=9999, channel="online", member=alice, status="pending_payment")
        order(store=world.s1, paid=at(D, 12), total=8888, channel="online", member=alice, status="cancelled")
        order(store=world.s1, paid=at(D + ONE, 0, 30), total=4444)  # the next day

        rollup_day(D)

        s1 = StoreDay.objects.get(day=D, store_id=world.s1.pk)
        assert (s1.orders_online, s1.gmv_online_fen, s1.orders_pos, s1.gmv_pos_fen) == (1, 1000, 2, 800)
        assert (s1.orders_member, s1.gmv_member_fen, s1.orders_nonmember, s1.gmv_nonmember_fen) == (2, 1300, 1, 500)
        assert s1.franchisee_id == world.f1.pk
        g = {row.guide_id: row for row in GuideDay.objects.filter(day=D)}
        assert (g[world.g1.pk].gmv_online_fen, g[world.g2.pk].gmv_pos_fen) == (1000, 700)
        assert g[world.g2.pk].store_id == world.s2.pk and g[world.g2.pk].franchisee_id == world.f2.pk
        brand = BrandDay.objects.get(day=D)
        assert brand.gmv_online_fen + brand.gmv_pos_fen == 2500
        assert brand.orders_online + brand.orders_pos == 4


def test_refund_subtracts_on_its_own_day_and_the_paid_day_keeps_its_figure(world):
    with schema_context(world.schema):
        sale = order(store=world.s1, paid=at(D, 10), total=1200, guide=world.g1)
        refund(order=sale, decided=at(D + 2 * ONE, 15), amount=1200)

        rollup_range(D, D + 2 * ONE)

        paid_day = StoreDay.objects.get(day=D, store_id=world.s1.pk)
        refund_day = StoreDay.objects.get(day=D + 2 * ONE, store_id=world.s1.pk)
        assert (paid_day.orders_pos, paid_day.gmv_pos_fen, paid_day.refunds_fen) == (1, 1200, 0)
        assert (refund_day.gmv_pos_fen, refund_day.refunds, refund_day.refunds_fen) == (0, 1, 1200)
        assert GuideDay.objects.get(day=D + 2 * ONE, guide_id=world.g1.pk).refunds_fen == 1200
        assert BrandDay.objects.get(day=D + 2 * ONE).refunds_fen == 1200


def test_nonmember_join_rate_counts_distinct_buyers_who_joined_that_same_day_after_buying(world):
    with schema_context(world.schema):
        # s1 on D: five sales, four distinct non-member buyers
        nonmember_sale(store=world.s1, paid=at(D, 10), kind="phone", identity="h-joins-same-day")
        nonmember_sale(store=world.s1, paid=at(D, 11), kind="phone", identity="h-joins-next-day")
        nonmember_sale(store=world.s1, paid=at(D, 12), kind="receipt")
        nonmember_sale(store=world.s1, paid=at(D, 13), kind="openid", identity="o-twice")
        nonmember_sale(store=world.s1, paid=at(D, 14), kind="openid", identity="o-twice")
        nonmember_sale(store=world.s2, paid=at(D, 10), kind="phone", identity="h-s2-never")
        member(joined=at(D, 18), phone_hash="h-joins-same-day", channel="store_counter", join_store=world.s1)
        member(joined=at(D + ONE, 9), phone_hash="h-joins-next-day")
        member(joined=at(D, 13, 30), openid="o-twice", channel="store_qr", join_store=world.s1)
        # s1 on D+1: one more buyer, who does not join
        nonmember_sale(store=world.s1, paid=at(D + ONE, 10), kind="phone", identity="h-day-two")

        assert metrics.nonmember_join(D) == {
            world.s1.pk: {"nonmember_buyers": 4, "nonmember_buyers_joined": 2},
            world.s2.pk: {"nonmember_buyers": 1, "nonmember_buyers_joined": 0},
        }
        # the member who joined the next day is not counted on that day either
        assert metrics.nonmember_join(D + ONE) == {world.s1.pk: {"nonmember_buyers": 1, "nonmember_buyers_joined": 0}}
        rollup_range(D, D + ONE)
        over_range = StoreDay.objects.filter(store_id=world.s1.pk, day__range=(D, D + ONE)).aggregate(
            n=Sum("nonmember_buyers_joined"), d=Sum("nonmember_buyers")
        )
        assert over_range == {"n": 2, "d": 5}
        assert BrandDay.objects.get(day=D).nonmember_buyers == 5


def test_a_buyer_who_joined_before_buying_as_a_non_member_is_not_counted_as_joined(world):
    with schema_context(world.schema):
        member(joined=at(D, 9), openid="o-early")
        nonmember_sale(store=world.s1, paid=at(D, 10), kind="openid", identity="o-early")
        assert metrics.nonmember_join(D)[world.s1.pk] == {"nonmember_buyers": 1, "nonmember_buyers_joined": 0}


def test_new_members_by_channel_store_and_guide(world):
    with schema_context(world.schema):
        member(joined=at(D, 9), channel="store_counter", join_store=world.s1)
        member(joined=at(D, 10), channel="guide_share", join_store=world.s1, guide=world.g1)
        member(joined=at(D, 11), channel="import", join_store=world.s2)
        member(joined=at(D, 12), channel="mini_program")
        member(joined=at(D + ONE, 1), channel="live_stream", join_store=world.s1)

        rollup_day(D)

        s1 = StoreDay.objects.get(day=D, store_id=world.s1.pk)
        assert (s1.new_members, s1.new_store_counter, s1.new_guide_share, s1.new_live_stream) == (2, 1, 1, 0)
        assert GuideDay.objects.get(day=D, guide_id=world.g1.pk).new_members == 1
        brand = BrandDay.objects.get(day=D)
        assert (brand.new_members, brand.new_import, brand.new_mini_program, brand.members_total) == (4, 1, 1, 4)


def test_historical_member_online_rate_cumulative_and_per_month(world):
    with schema_context(world.schema):
        joined = D - 10 * ONE
        imported = member(joined=at(joined), channel="import", store=world.s1)
        member(joined=at(joined), channel="import", store=world.s1)  # never online
        counter = member(joined=at(joined), channel="store_counter", store=world.s1)
        newcomer = member(joined=at(joined), channel="mini_program", store=world.s1)  # not historical
        visit(imported, D)
        visit(imported, D + ONE)  # second time: not new
        visit(newcomer, D)
        counter.card_activated_at = at(D + 25 * ONE)  # next month
        counter.save(update_fields=["card_activated_at"])

        rollup_range(joined, D + 25 * ONE)

        def rate(upto):
            agg = StoreDay.objects.filter(store_id=world.s1.pk, day__lte=upto).aggregate(
                n=Sum("historical_online"), d=Sum("historical_new")
            )
            return agg["n"], agg["d"]

        assert rate(D - ONE) == (0, 3)
        assert rate(D + 24 * ONE) == (1, 3)
        assert rate(D + 25 * ONE) == (2, 3)
        april = StoreDay.objects.filter(store_id=world.s1.pk, day__year=2026, day__month=4).aggregate(
            n=Sum("historical_online")
        )
        assert april["n"] == 1


def test_active_churned_reactivated_and_birthday_snapshots(world):
    from points.services import points_earn

    with schema_context(world.schema):
        old = D - 400 * ONE
        back = member(joined=at(old), openid="o-back", birthday=dt.date(1990, 3, 2))  # buys D-100 and D
        gone = member(joined=at(old), openid="o-gone")  # bought D-120 only
        lost = member(joined=at(old), openid="o-lost")  # bought D-200 only
        visitor = member(joined=at(old), openid="o-visit", birthday=dt.date(1991, 3, 30))
        earner = member(joined=at(old), openid="o-earn")
        member(joined=at(D + ONE), openid="o-later", birthday=dt.date(1992, 3, 1))  # joins after D
        days = {D - 200 * ONE: [lost], D - 120 * ONE: [gone], D - 100 * ONE: [back], D: [back]}
        for day, buyers in days.items():
            for who in buyers:
                order(store=world.s1, paid=at(day), member=who)
        order(store=world.s1, paid=at(D + ONE), member=back)  # same month again
        visit(visitor, D - 20 * ONE)
        entry = points_earn(member=earner, points=10, idempotency_key="x", reason="t")

        for day in [*days, D - 20 * ONE, D + ONE]:
            metrics.activity_record(day)
        # points entries are append-only: the earner's activity is the day it was really earned
        metrics.activity_record(entry.created_at.astimezone(at(D).tzinfo).date())

        snap = metrics.member_snapshots(D, lookback_days=180, quiet_days=90) | metrics.member_levels_scan(D)
        assert snap["members_total"] == 5
        assert snap["active_30d"] == 2  # back (D), visitor (D-20)
        assert snap["active_90d"] == 2
        assert snap["churned"] == 1  # gone: last bought 120 days ago; lost is beyond 180
        assert snap["birthdays_in_month"] == 2  # back, visitor (o-later joined after D)
        flows = metrics.activity_flows(D, quiet_days=90)
        assert flows["reactivated"] == 1  # back: previous purchase 100 days before
        assert flows["birthday_buyers"] == 1
        assert metrics.activity_flows(D + ONE, quiet_days=90)["birthday_buyers"] == 0  # already this month
        assert metrics.activity_flows(D + ONE, quiet_days=90)["reactivated"] == 0
        assert metrics.activity_flows(D - 100 * ONE, quiet_days=90)["reactivated"] == 0  # a first purchase


def test_points_coupons_and_market_figures(world, brand_a, brand_b):
    from django.utils import timezone

    from miniprograms.models import Coupon, CouponTemplate
    from points.services import points_earn, points_redeem
    from rights_market.models import Exchange, Listing, Offer

    today = timezone.localdate()
    with schema_context(world.schema):
        who = member(joined=at(D), openid="o-points")
        points_earn(member=who, points=100, idempotency_key="e1", reason="t")
        points_redeem(member=who, points=30, idempotency_key="r1", reason="t")
        template = CouponTemplate.objects.create(name="5 off", kind="amount_off", amount_off_fen=500, total_stock=9)
        Coupon.objects.create(
            template=template, member=who, source="grant", valid_until=at(today + ONE), created_at=timezone.now()
        )
        Coupon.objects.create(
            template=template,
            member=who,
            source="grant",
            valid_until=at(today + ONE),
            created_at=at(today - ONE),
            status="used",
            used_at=timezone.now(),
        )
        figures = metrics.points_and_coupons(today)
        assert figures == {
            "points_earned": 100,
            "points_redeemed": 30,
            "points_expired": 0,
            "coupons_issued": 1,
            "coupons_used": 1,
        }

    now = timezone.now()
    theirs = Offer.objects.create(issuer=brand_b, kind="coupon", title="B's", total_stock=5, remaining_stock=3)
    ours = Offer.objects.create(issuer=brand_a, kind="coupon", title="A's", total_stock=5, remaining_stock=3)
    for offer, accepting, points, price in ((theirs, brand_a, 300, 0), (ours, brand_b, 200, 150)):
        listing = Listing.objects.create(brand=accepting, offer=offer, points_price=points)
        Exchange.objects.create(
            accepting_brand=accepting,
            issuer=offer.issuer,
            offer=offer,
            listing=listing,
            member_id=1,
            request_key="k",
            points=points,
            settlement_price_fen=price,
            status="fulfilled",
            requested_at=now,
            fulfilled_at=now,
            fulfilment_ref="voucher:1",
            updated_at=now,
        )
    with schema_context(world.schema):
        assert metrics.market(today, brand_id=brand_a.pk) == {
            "market_accepted": 1,
            "market_accepted_points": 300,
            "market_issued": 1,
            "market_issued_settlement_fen": 150,
        }
