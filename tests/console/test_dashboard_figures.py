"""The console dashboard's sales figures come from the analytics rollups plus today's partial day: past days as last
rolled up (an order a rollup has not seen yet is not in them), today from today's facts, no raw orders before
today read; two franchisees' managers see their own stores."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from analytics.rollup import rollup_day
from console.selectors import DashboardFilter, analytics_panel, dashboard
from core.permissions import StaffScope
from tests.analytics.conftest import D, at, member, order, world  # noqa: F401  (the fixture)

ONE = dt.timedelta(days=1)
NOW = at(D, 20)


def test_dashboard_sales_are_the_rollups_and_todays_partial_day(world):  # noqa: F811
    hq = StaffScope(user_id=0, franchisee_id=None)
    with schema_context(world.schema):
        alice = member(joined=at(D - 30 * ONE), openid="o-alice")
        order(store=world.s1, paid=at(D - 2 * ONE), total=4000, member=alice)
        order(store=world.s2, paid=at(D - ONE), total=700)
        rollup_day(D - 2 * ONE)
        rollup_day(D - ONE)
        order(store=world.s1, paid=at(D - ONE, 23), total=99)  # paid after yesterday's last rollup
        order(store=world.s1, paid=at(D, 9), total=500, channel="online", member=alice)  # today, not rolled up

        with CaptureQueriesContext(connection) as queries:
            figures = dashboard(scope=hq, filters=DashboardFilter(days=7), now=NOW)

        assert (figures.sales_fen, figures.orders) == (5200, 3)
        assert [d["sales_fen"] for d in figures.days] == [0, 0, 0, 0, 4000, 700, 500]
        assert [(s["store_id"], s["sales_fen"], s["orders"]) for s in figures.stores] == [
            (world.s1.pk, 4500, 2),
            (world.s2.pk, 700, 1),
        ]
        today_start = "2026-03-10T00:00:00+08:00"
        order_reads = [q["sql"] for q in queries.captured_queries if "miniprograms_order" in q["sql"]]
        assert order_reads and all(today_start in sql or "'requested'" in sql for sql in order_reads), order_reads

        panel = analytics_panel(scope=hq, filters=DashboardFilter(days=7), now=NOW, rows=figures.rows)
        assert (panel.totals["gmv_member_fen"], panel.totals["gmv_online_fen"]) == (4500, 500)

        # the franchisees' managers: F1 has S1, F2 has S2
        f1 = dashboard(
            scope=StaffScope(user_id=world.m1.pk, franchisee_id=world.f1.pk), filters=DashboardFilter(), now=NOW
        )
        f2 = dashboard(
            scope=StaffScope(user_id=world.m2.pk, franchisee_id=world.f2.pk), filters=DashboardFilter(), now=NOW
        )
        assert (f1.sales_fen, [s["store_id"] for s in f1.stores]) == (4500, [world.s1.pk])
        assert (f2.sales_fen, [s["store_id"] for s in f2.stores]) == (700, [world.s2.pk])
        # HQ filtering by franchisee and by store
        by_f2 = dashboard(scope=hq, filters=DashboardFilter(franchisee_id=world.f2.pk), now=NOW)
        by_s1 = dashboard(scope=hq, filters=DashboardFilter(store_id=world.s1.pk), now=NOW)
        assert (by_f2.sales_fen, by_s1.sales_fen, by_s1.orders) == (700, 4500, 2)

        rollup_day(D - ONE)  # the next run sees the late one
        assert dashboard(scope=hq, filters=DashboardFilter(days=7), now=NOW).sales_fen == 5299
