"""The window snapshots (active 30/90, churned) counted from analytics.MemberLast equal the reference formula that
scans ActivityDay's windows, on every day (including days rebuilt after later activity), and MemberLast follows
rebuilt days both ways (a fact added, a fact gone) without changing when a day is rolled up again."""

from __future__ import annotations

import datetime as dt

from django.forms.models import model_to_dict
from django_tenants.utils import schema_context

from analytics import metrics
from analytics.models import BrandDay, LastDayCount, MemberLast
from analytics.rollup import rollup_day
from tests.analytics.conftest import D, at, member, order, visit

ONE = dt.timedelta(days=1)


def _world(world):
    """Members whose facts sit on and around the window edges of D (30, 90, lookback 180, quiet 90), some with
    later activity so that D's figures must ignore it. Returns the days that have facts."""
    old = at(D - 400 * ONE)
    plan = {  # member -> (order days, visit days), as offsets from D
        "edge30": ([], [-29]),
        "out30": ([], [-30]),
        "edge90": ([-89], []),
        "out90": ([], [-90, 3]),
        "churn_edge": ([-90], []),
        "quiet_edge": ([-89], []),
        "look_edge": ([-179], []),
        "look_out": ([-180], []),
        "churn_then_back": ([-120, 2], []),
        "old_then_back": ([-200, 1], [5]),
        "recent": ([-5, -1, 0], [-3]),
        "later_only": ([4], [6]),
        "twice_late": ([-100, 0, 1], [-40]),
    }
    days: set[dt.date] = set()
    for name, (orders, visits) in plan.items():
        who = member(joined=old, openid=f"o-{name}")
        for offset in orders:
            order(store=world.s1, paid=at(D + offset * ONE), member=who)
            days.add(D + offset * ONE)
        for offset in visits:
            visit(who, D + offset * ONE)
            days.add(D + offset * ONE)
    member(joined=old, openid="o-card", card_activated_at=at(D - 2 * ONE))  # ONLINE only: not active
    days.add(D - 2 * ONE)
    return days


def test_snapshots_from_member_last_equal_the_scan_on_every_day(world, monkeypatch):
    with schema_context(world.schema):
        days = _world(world)
        for day in sorted(days):
            metrics.activity_record(day)
        from members.models import Member

        back = MemberLast.objects.get(member_id=Member.objects.get(openid="o-churn_then_back").pk)
        assert (back.last_active, back.last_order) == (D + 2 * ONE, D + 2 * ONE)
        assert not MemberLast.objects.filter(
            member_id=Member.objects.get(openid="o-card").pk, last_active__isnull=False
        ).exists()

        fast = metrics.member_snapshots(D, lookback_days=180, quiet_days=90)
        assert fast == metrics.member_snapshots_scan(D, lookback_days=180, quiet_days=90)
        # edge30, recent, twice_late / + edge90, quiet_edge, look_edge, churn_edge(-90 order, outside 90d), ...
        assert (fast["active_30d"], fast["active_90d"]) == (3, 6)
        # churn_edge (-90), look_edge (-179), churn_then_back (-120, later purchase ignored); not old_then_back
        assert fast["churned"] == 3

        # continued day after day from the day before: the same figures, reading only the days at the edges
        for lookback, quiet in ((180, 90), (60, 7)):
            previous = metrics.member_snapshots_scan(D - 201 * ONE, lookback_days=lookback, quiet_days=quiet)
            for day in [D + i * ONE for i in range(-200, 10)]:
                continued = metrics.member_snapshots_continued(
                    day, lookback_days=lookback, quiet_days=quiet, previous=previous
                )
                assert continued == metrics.member_snapshots_scan(day, lookback_days=lookback, quiet_days=quiet), day
                previous = continued

        # as rollup_day asks: counted near the latest activity, continued further back
        previous = None
        for day in [D + i * ONE for i in range(-200, 10)]:
            snap = metrics.member_snapshots(day, lookback_days=180, quiet_days=90, previous=previous)
            assert snap == metrics.member_snapshots_scan(day, lookback_days=180, quiet_days=90), day
            previous = snap

        monkeypatch.setattr(metrics, "FAST_SNAPSHOT_DAYS", 10_000)  # every day through LastDayCount, however old
        for day in [D + i * ONE for i in range(-200, 10)]:
            for lookback, quiet in ((180, 90), (60, 7)):
                assert metrics.member_snapshots(
                    day, lookback_days=lookback, quiet_days=quiet
                ) == metrics.member_snapshots_scan(day, lookback_days=lookback, quiet_days=quiet), day


def _last_day_counts_from_member_last() -> dict:
    counts: dict = {}
    for last_active, last_order in MemberLast.objects.values_list("last_active", "last_order"):
        for day, column in ((last_active, 0), (last_order, 1)):
            if day is not None:
                counts.setdefault(day, [0, 0])[column] += 1
    return {day: tuple(c) for day, c in counts.items()}


def _last_day_counts() -> dict:
    return {
        day: (active, ordered)
        for day, active, ordered in LastDayCount.objects.values_list("day", "active", "ordered")
        if active or ordered
    }


def test_rolling_up_again_is_idempotent_and_a_vanished_fact_moves_member_last_back(world):
    with schema_context(world.schema):
        days = _world(world)
        for day in sorted(days):
            rollup_day(day)

        def state():
            return (
                sorted(MemberLast.objects.values_list("member_id", "last_active", "last_order")),
                [
                    {k: v for k, v in model_to_dict(r).items() if k not in ("id", "rolled_up_at")}
                    for r in BrandDay.objects.order_by("day")
                ],
            )

        first = state()
        assert _last_day_counts() == _last_day_counts_from_member_last() != {}
        for day in sorted(days):
            rollup_day(day)
        assert state() == first
        assert _last_day_counts() == _last_day_counts_from_member_last()

        recent = MemberLast.objects.get(last_order=D)  # "recent": orders at D-5, D-1, D
        from miniprograms.models import Order

        Order.objects.filter(member_id=recent.member_id, paid_at=at(D)).update(status="cancelled")
        rollup_day(D)
        moved = MemberLast.objects.get(member_id=recent.member_id)
        assert (moved.last_order, moved.last_active) == (D - ONE, D - ONE)
        assert _last_day_counts() == _last_day_counts_from_member_last()
        snap = BrandDay.objects.get(day=D)
        scan = metrics.member_snapshots_scan(D, lookback_days=180, quiet_days=90)
        assert {k: getattr(snap, k) for k in scan} == scan
