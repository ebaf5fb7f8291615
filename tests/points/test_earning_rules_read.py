"""The earning rules a paid order reads in one statement (points.services.rules.earning_rules) equal the three ORM
reads they stand for (policy_get, _store_rate_pct, _active_campaigns_on), and each brand reads its own rules."""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from points.models import Campaign, PointsPolicy, StoreEarnRate
from points.services.expiry import policy_get
from points.services.rules import _active_campaigns_on, _store_rate_pct, earning_rules

DAY = date(2026, 6, 18)


def _values(obj) -> dict | None:
    if obj is None:
        return None
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _as_the_orm_reads(store_code, day):
    return (
        _values(policy_get()),
        _store_rate_pct(store_code),
        [_values(c) for c in _active_campaigns_on(day)],
    )


def _read(store_code, day):
    policy, rate, campaigns = earning_rules(store_code=store_code, day=day)
    return _values(policy), rate, [_values(c) for c in campaigns]


def _campaign(name, pct, starts, ends, **kw) -> Campaign:
    return Campaign.objects.create(name=name, multiplier_pct=pct, starts_on=starts, ends_on=ends, **kw)


def _rules_of_alpha() -> None:
    PointsPolicy.objects.create(pk=1, points_per_yuan_pct=150, expiry_mode="never", birthday_month_multiplier_pct=200)
    StoreEarnRate.objects.create(store_code="SH01", points_per_yuan_pct=300)
    _campaign("618", 200, DAY, DAY, is_active=True)
    _campaign(
        "June gold", 300, date(2026, 6, 1), date(2026, 6, 30), store_codes=["SH01"], tier_codes=["7"], is_active=True
    )
    _campaign("June later id", 250, date(2026, 6, 1), date(2026, 6, 30), is_active=True)
    _campaign("off", 900, date(2026, 6, 1), date(2026, 6, 30))
    _campaign("May", 500, date(2026, 5, 1), date(2026, 5, 31), is_active=True)


def test_the_one_statement_reads_what_the_three_reads_read(brand_a):
    with schema_context(brand_a.schema_name):
        # nothing saved: the default policy, no store rate, no campaign
        assert _read("SH01", DAY) == _as_the_orm_reads("SH01", DAY)
        assert earning_rules(store_code="SH01", day=DAY)[0].pk == 1

        _rules_of_alpha()
        for store_code in ("SH01", "BJ01", "", None):
            for day in (DAY, date(2026, 5, 31), date(2026, 7, 1)):
                assert _read(store_code, day) == _as_the_orm_reads(store_code, day), (store_code, day)
        policy, rate, campaigns = earning_rules(store_code="SH01", day=DAY)
        assert (policy.points_per_yuan_pct, rate, [c.name for c in campaigns]) == (
            150,
            300,
            ["618", "June gold", "June later id"],
        )
        assert campaigns[1].store_codes == ["SH01"]  # JSON fields converted as the ORM does

        with CaptureQueriesContext(connection) as queries:
            earning_rules(store_code="SH01", day=DAY)
        assert len(queries) == 1


def test_each_brand_reads_its_own_rules_on_one_connection(brand_a, brand_b):
    with schema_context(brand_a.schema_name):
        _rules_of_alpha()
        assert earning_rules(store_code="SH01", day=DAY)[1] == 300  # planned in alpha first
    with schema_context(brand_b.schema_name):
        StoreEarnRate.objects.create(store_code="SH01", points_per_yuan_pct=50)
        _campaign("beta's own", 120, DAY, DAY, is_active=True)

        policy, rate, campaigns = earning_rules(store_code="SH01", day=DAY)

        assert (policy.points_per_yuan_pct, policy._state.adding) == (100, True)  # beta saved no policy
        assert rate == 50
        assert [c.name for c in campaigns] == ["beta's own"]
    with schema_context(brand_a.schema_name):
        assert _read("SH01", DAY) == _as_the_orm_reads("SH01", DAY)
