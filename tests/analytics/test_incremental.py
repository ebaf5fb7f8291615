"""Snapshots kept incrementally: member levels continue from the day before (reading only the day's new members),
re-running changes nothing, and late facts for a day older than the recomputed window (a member, a refund, a POS
batch 40 days back) correct that day and the snapshots of the days after it."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from analytics import metrics
from analytics.models import BrandDay, GuideMonth, StoreDay, StoreMonth
from analytics.rollup import months_refresh, rollup_day, rollup_range, rollup_run
from tests.analytics.conftest import D, at, member, order, refund, visit

ONE = dt.timedelta(days=1)
MARCH, APRIL = dt.date(1990, 3, 5), dt.date(1990, 4, 5)
LEVELS = ("members_total", "members_by_birth_month", "birthdays_in_month")
WINDOWS = ("active_30d", "active_90d", "churned")
FLOWS = ("reactivated", "birthday_buyers")


def _brand_rows():
    return [
        {k: v for k, v in model_to_dict(r).items() if k not in ("id", "rolled_up_at")}
        for r in BrandDay.objects.order_by("day")
    ]


def _month_rows():
    def strip(rows):
        return sorted(
            tuple(v for k, v in model_to_dict(r).items() if k != "id")
            for r in rows
            if any(getattr(r, c) for c in ("orders_pos", "orders_online", "refunds", "new_members"))
        )

    return strip(StoreMonth.objects.all()), strip(GuideMonth.objects.all())


def _assert_as_the_reference_formulas(days, *, lookback=180, quiet=90):
    """Every rolled-up day's snapshots and window flows equal the reference formulas evaluated now."""
    for row in BrandDay.objects.filter(day__in=days).order_by("day"):
        day = row.day
        expected = metrics.member_levels_scan(day)
        expected |= metrics.member_snapshots_scan(day, lookback_days=lookback, quiet_days=quiet)
        flows = metrics.activity_flows(day, quiet_days=quiet)
        expected |= {k: flows[k] for k in FLOWS}
        assert {k: getattr(row, k) for k in expected} == expected, day


def test_member_levels_continue_from_the_day_before_and_equal_the_count(world):
    with schema_context(world.schema):
        # given members joining over a few days, some with a birthday in March (D's month), one with none
        member(joined=at(D - 30 * ONE), openid="o-old", birthday=MARCH)
        member(joined=at(D - 3 * ONE, 9), openid="o-1", birthday=MARCH)
        member(joined=at(D - 3 * ONE, 23, 50), openid="o-2", birthday=APRIL)
        member(joined=at(D - 2 * ONE), openid="o-3")
        member(joined=at(D, 0, 5), openid="o-4", birthday=MARCH)
        member(joined=at(D + ONE), openid="o-5", birthday=APRIL)
        days = [D - 3 * ONE + i * ONE for i in range(5)]

        # when the days are rolled up one after the other
        rollup_range(days[0], days[-1])

        # then the levels are those of counting every member at each day's end
        assert [(r["day"], r["members_total"], r["birthdays_in_month"]) for r in _brand_rows()] == [
            (D - 3 * ONE, 3, 2),
            (D - 2 * ONE, 4, 2),
            (D - ONE, 4, 2),
            (D, 5, 3),
            (D + ONE, 6, 3),
        ]
        assert BrandDay.objects.get(day=D + ONE).members_by_birth_month[3] == 2  # April
        _assert_as_the_reference_formulas(days)

        # and rolling up again (the whole range, or a day in it) changes nothing
        first = _brand_rows()
        rollup_range(days[0], days[-1])
        rollup_day(D - ONE)
        assert _brand_rows() == first

        # and a day after a rolled-up day reads the members of its own day only, not every member
        with CaptureQueriesContext(connection) as queries:
            rollup_day(D + 2 * ONE)
        sqls = [" ".join(q["sql"].split()) for q in queries.captured_queries]
        counts = [sql for sql in sqls if "FROM members_member WHERE joined_at <" in sql]
        assert counts == []
        assert BrandDay.objects.get(day=D + 2 * ONE).members_total == 6


def test_a_member_committed_after_a_higher_id_is_counted_when_its_day_is_rebuilt(world):
    with schema_context(world.schema):
        # two joins race on D: the lower id commits after the rollup counted the higher one (simulated: the lower
        # id's row shows up on D only after the first rollup, as its commit would make it)
        racing = member(joined=at(D + 5 * ONE), openid="o-slow", birthday=APRIL)
        member(joined=at(D, 10), openid="o-fast", birthday=MARCH)
        rollup_range(D - ONE, D + ONE)
        assert BrandDay.objects.get(day=D).members_total == 1
        assert BrandDay.objects.get(day=D).members_seen_id > racing.pk

        type(racing).objects.filter(pk=racing.pk).update(joined_at=at(D, 9))
        rollup_day(D)

        assert [(r["day"], r["members_total"]) for r in _brand_rows()] == [(D - ONE, 0), (D, 2), (D + ONE, 2)]
        assert BrandDay.objects.get(day=D + ONE).members_by_birth_month[3] == 1  # April: the late one
        _assert_as_the_reference_formulas([D - ONE, D, D + ONE])


def test_a_late_member_with_an_old_join_day_moves_the_levels_of_every_later_day(world):
    with schema_context(world.schema):
        member(joined=at(D - 50 * ONE), openid="o-old", birthday=MARCH)
        rollup_range(D - 45 * ONE, D)
        rollup_run(now=at(D, 20))  # the first run sets the watermarks
        assert BrandDay.objects.get(day=D).members_total == 1

        # an import brings a member who joined 40 days back (older than the recomputed window)
        member(joined=at(D - 40 * ONE), channel="import", phone_hash="h-late", birthday=MARCH)
        result = rollup_run(now=at(D, 21))

        assert D - 40 * ONE in result.days
        assert BrandDay.objects.get(day=D - 41 * ONE).members_total == 1
        assert BrandDay.objects.get(day=D - 40 * ONE).new_import == 1
        assert all(r["members_total"] == 2 for r in _brand_rows() if r["day"] >= D - 40 * ONE)
        assert BrandDay.objects.get(day=D).birthdays_in_month == 2  # March
        assert BrandDay.objects.get(day=D - 12 * ONE).birthdays_in_month == 0  # February: nobody
        _assert_as_the_reference_formulas([D - 45 * ONE + i * ONE for i in range(46)])
        again = _brand_rows()
        rollup_run(now=at(D, 22))
        assert _brand_rows() == again


def test_a_birthday_set_after_joining_counts_from_the_first_of_the_next_month(world):
    with schema_context(world.schema):
        late_bloomer = member(joined=at(D - 5 * ONE), openid="o-lb")
        rollup_range(D - 5 * ONE, D)
        late_bloomer.birthday = APRIL
        late_bloomer.save(update_fields=["birthday"])
        rollup_range(D + ONE, dt.date(2026, 3, 31))
        assert BrandDay.objects.get(day=dt.date(2026, 3, 31)).members_by_birth_month[3] == 0  # not seen yet
        rollup_run(now=at(dt.date(2026, 4, 1), 9))  # the 1st, the newest day: recounted
        assert BrandDay.objects.get(day=dt.date(2026, 4, 1)).birthdays_in_month == 1

        rollup_run(now=at(dt.date(2026, 4, 2), 9))

        rollup_run(now=at(dt.date(2026, 4, 2), 10))  # the 1st rebuilt again, the 2nd after it

        rollup_day(dt.date(2026, 4, 1), recount_month_start=False)  # as for a late fact
        april = {r.day.day: r.birthdays_in_month for r in BrandDay.objects.filter(day__month=4)}
        assert april == {1: 1, 2: 1}
        assert BrandDay.objects.get(day=dt.date(2026, 4, 1)).members_by_birth_month[3] == 1
        _assert_as_the_reference_formulas([dt.date(2026, 4, 1), dt.date(2026, 4, 2)])


def test_a_late_refund_40_days_back_corrects_its_day_its_month_and_the_read(world):
    from analytics import selectors
    from core.permissions import StaffScope

    hq = StaffScope(user_id=0, franchisee_id=None)
    with schema_context(world.schema):
        sale = order(store=world.s1, paid=at(D - 45 * ONE), total=3000, guide=world.g1)
        rollup_range(D - 50 * ONE, D)
        rollup_run(now=at(D, 20))

        # a refund that succeeded 40 days back arrives now (older than the recomputed window of 2 days)
        refund(order=sale, decided=at(D - 40 * ONE), amount=1200)
        result = rollup_run(now=at(D, 22))

        late = D - 40 * ONE
        assert late in result.days
        assert StoreDay.objects.get(day=late, store_id=world.s1.pk).refunds_fen == 1200
        assert BrandDay.objects.get(day=late).refunds_fen == 1200
        assert StoreDay.objects.get(day=D - 45 * ONE, store_id=world.s1.pk).gmv_pos_fen == 3000  # the paid day kept
        month = StoreMonth.objects.get(month=late.replace(day=1), store_id=world.s1.pk)
        assert month.refunds_fen == 1200
        # the month rows moved with their days (no refresh in the run) are the sums of their days
        moved = _month_rows()
        months_refresh([D - 50 * ONE + i * ONE for i in range(51)])
        assert _month_rows() == moved
        rows = selectors.sales_figures(scope=hq, date_from=D - 50 * ONE, date_to=D, grain="range", by="guide")
        assert [(r["key"], r["gmv_fen"], r["refunds_fen"], r["net_gmv_fen"]) for r in rows] == [
            (world.g1.pk, 3000, 1200, 1800)
        ]
        # and the refunded order still counts as a purchase: the snapshots are as before and as the formulas
        _assert_as_the_reference_formulas([D - 50 * ONE + i * ONE for i in range(51)])
        again = _brand_rows()
        rollup_run(now=at(D, 23))
        assert _brand_rows() == again


def test_a_late_pos_batch_40_days_back_corrects_the_window_snapshots_of_the_days_after_it(world):
    from miniprograms.models import Product, Sku
    from miniprograms.services.pos import pos_orders_record

    with schema_context(world.schema):
        Sku.objects.create(product=Product.objects.create(name="Tea"), code="TEA-1", price_fen=800)
        old = at(D - 400 * ONE)
        # regular: bought 150 days back (so churned until the late purchase), back at D - 10 (reactivated then)
        regular = member(joined=old, openid="o-reg", birthday=dt.date(1990, 1, 20), store=world.s1)
        order(store=world.s1, paid=at(D - 150 * ONE), member=regular)
        order(store=world.s1, paid=at(D - 10 * ONE), member=regular)
        # quiet: visited at D - 70 only (active 90 until D - 70 + 89)
        quiet = member(joined=old, openid="o-quiet", store=world.s1)
        visit(quiet, D - 70 * ONE)
        first = D - 200 * ONE
        rollup_range(first, D)
        rollup_run(now=at(D, 20))
        assert BrandDay.objects.get(day=D - 10 * ONE).reactivated == 1
        assert BrandDay.objects.get(day=D - 11 * ONE).churned == 1

        # a POS batch sent 40 days late: both bought at D - 40 (January: the regular's birthday month is not it)
        receipts = [
            {
                "receipt_no": f"LATE-{who.pk}",
                "sold_at": at(D - 40 * ONE, 15),
                "member_id": who.pk,
                "lines": [{"sku_code": "TEA-1", "quantity": 1, "unit_price_fen": 800}],
            }
            for who in (regular, quiet)
        ]
        assert [r.status for r in pos_orders_record(store=world.s1, receipts=receipts)] == ["created", "created"]
        result = rollup_run(now=at(D, 21))

        assert D - 40 * ONE in result.days and D - 30 * ONE not in result.days
        day = BrandDay.objects.get(day=D - 40 * ONE)
        assert (day.orders_pos, day.reactivated, day.active_members) == (2, 1, 2)
        assert BrandDay.objects.get(day=D - 10 * ONE).reactivated == 0  # no longer a comeback
        assert BrandDay.objects.get(day=D - 11 * ONE).churned == 0  # bought 29 days before
        assert BrandDay.objects.get(day=D - 15 * ONE).active_30d == 2  # both bought 25 days before
        assert BrandDay.objects.get(day=D).active_90d == 2
        _assert_as_the_reference_formulas([first + i * ONE for i in range(201)])
        again = _brand_rows()
        rollup_run(now=at(D, 22))
        assert _brand_rows() == again


def test_live_today_adds_todays_facts_to_the_rollups_by_guide_and_franchisee(world):
    from analytics import selectors
    from core.permissions import StaffScope

    hq = StaffScope(user_id=0, franchisee_id=None)
    f1 = StaffScope(user_id=world.m1.pk, franchisee_id=world.f1.pk)
    with schema_context(world.schema):
        order(store=world.s1, paid=at(D - ONE), total=100, guide=world.g1)
        rollup_day(D - ONE)
        order(store=world.s1, paid=at(D, 8), total=20, guide=world.g1)
        order(store=world.s2, paid=at(D, 9), total=3, guide=world.g2)

        def read(scope, by, live):
            rows = selectors.sales_figures(
                scope=scope, date_from=D - ONE, date_to=D, grain="month", by=by, live_today=live, now=at(D, 20)
            )
            return [(r["key"], r["gmv_fen"]) for r in rows]

        assert read(hq, "guide", False) == [(world.g1.pk, 100)]
        assert read(hq, "guide", True) == [(world.g1.pk, 120), (world.g2.pk, 3)]
        assert read(f1, "guide", True) == [(world.g1.pk, 120)]
        assert read(hq, "franchisee", True) == [(world.f1.pk, 120), (world.f2.pk, 3)]
        assert read(f1, "brand", True) == [(None, 120)]


def test_month_reads_as_month_rows_less_the_days_outside_equal_the_days_summed(world):
    from collections import defaultdict

    from analytics import selectors
    from core.permissions import StaffScope

    hq = StaffScope(user_id=0, franchisee_id=None)
    with schema_context(world.schema):
        for i, day in enumerate([dt.date(2026, 2, 27), dt.date(2026, 3, 1), dt.date(2026, 3, 2), D, D + 20 * ONE]):
            order(store=world.s1, paid=at(day), total=100 + i, guide=world.g1)
            order(store=world.s2, paid=at(day, 15), total=1000 * (i + 1), guide=world.g2 if i % 2 else None)
        sale = order(store=world.s1, paid=at(dt.date(2026, 4, 2)), total=77)
        refund(order=sale, decided=at(dt.date(2026, 4, 3)))
        rollup_range(dt.date(2026, 2, 20), dt.date(2026, 4, 5))

        def grouped(date_from, date_to, grain, by):
            rows = selectors.sales_figures(scope=hq, date_from=date_from, date_to=date_to, grain=grain, by=by)
            return {(r["period"], r["key"]): (r["gmv_fen"], r["orders"], r["refunds_fen"]) for r in rows}

        for date_from, date_to in [
            (dt.date(2026, 2, 27), dt.date(2026, 3, 30)),  # March less its 31st
            (dt.date(2026, 3, 2), dt.date(2026, 4, 3)),  # March less its 1st; April's first days
            (dt.date(2026, 2, 1), dt.date(2026, 3, 1)),
            (dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
        ]:
            for by in ("store", "guide", "franchisee"):
                days = grouped(date_from, date_to, "day", by)
                months: dict = defaultdict(lambda: (0, 0, 0))
                for (day, key), values in days.items():
                    months[(day.replace(day=1), key)] = tuple(
                        a + b for a, b in zip(months[(day.replace(day=1), key)], values)
                    )
                assert grouped(date_from, date_to, "month", by) == dict(months), (date_from, date_to, by)
                total: dict = defaultdict(lambda: (0, 0, 0))
                for (_, key), values in days.items():
                    total[(date_from, key)] = tuple(a + b for a, b in zip(total[(date_from, key)], values))
                assert grouped(date_from, date_to, "range", by) == dict(total), (date_from, date_to, by)


def test_a_late_online_order_moving_a_first_online_day_earlier_takes_it_off_the_later_day(world):
    from django.db.models import Sum

    with schema_context(world.schema):
        # a member brought from the old CRM, first seen online by a visit at D - 10
        old_crm = member(joined=at(D - 60 * ONE), channel="import", phone_hash="h-crm", store=world.s1)
        visit(old_crm, D - 10 * ONE)
        rollup_range(D - 70 * ONE, D)
        rollup_run(now=at(D, 20))  # the first run sets the watermarks
        assert StoreDay.objects.get(day=D - 10 * ONE, store_id=world.s1.pk).historical_online == 1

        # an online order paid 30 days back (older than the recomputed window) arrives now
        order(store=world.s1, paid=at(D - 30 * ONE), channel="online", member=old_crm)
        result = rollup_run(now=at(D, 21))

        assert D - 30 * ONE in result.days and D - 10 * ONE in result.days  # the day it left, rebuilt too
        online = dict(
            StoreDay.objects.filter(store_id=world.s1.pk, historical_online__gt=0).values_list(
                "day", "historical_online"
            )
        )
        assert online == {D - 30 * ONE: 1}  # counted once, on its first online day
        totals = StoreDay.objects.filter(store_id=world.s1.pk).aggregate(n=Sum("historical_online"))
        assert totals["n"] == 1
        months = StoreMonth.objects.filter(store_id=world.s1.pk).aggregate(n=Sum("historical_online"))
        assert months["n"] == 1
        again = _brand_rows()
        rollup_run(now=at(D, 22))
        assert _brand_rows() == again
