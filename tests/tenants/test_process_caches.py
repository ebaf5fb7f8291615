"""Per-process caches stay bounded with 500 brands and with whatever hosts and appids anyone sends."""

from __future__ import annotations

import uuid

from django.db import connection
from django_tenants.utils import schema_context

from callbacks import selectors as callback_selectors
from core.process_cache import BoundedTTLCache
from tenants import routing


def test_the_least_recently_used_entry_goes_first_and_the_bound_holds():
    cache = BoundedTTLCache(max_entries=3, ttl=lambda: 60)
    for key in "abc":
        cache.set(key, key.upper())
    cache.get("a")  # a is used again: b is now the oldest
    cache.set("d", "D")

    assert len(cache) == 3
    assert cache.get("b") is BoundedTTLCache.MISSING
    assert [cache.get(k) for k in "acd"] == ["A", "C", "D"]


def test_entries_expire_and_a_zero_ttl_caches_nothing():
    ttl = [60.0]
    cache = BoundedTTLCache(max_entries=10, ttl=lambda: ttl[0])
    cache.set("k", 1)
    ttl[0] = 0
    assert cache.get("k") is BoundedTTLCache.MISSING
    cache.set("j", 2)
    assert len(cache) == 1  # nothing new stored while the ttl is 0


def test_a_flood_of_unknown_hosts_keeps_the_routing_cache_bounded_and_the_brand_in_it(
    db, brand_a, settings, django_assert_num_queries
):
    settings.EKR_TENANT_CACHE_SECONDS = 60  # the tests run without the cache; production has it
    routing.tenant_cache_clear()
    host = f"{brand_a.slug}.localhost"
    bound = routing._cache.max_entries
    for i in range(bound + 500):
        if i % 100 == 0:
            assert routing.brand_for_host(host) == brand_a  # the brand is asked for all along, as in real traffic
        routing.brand_for_host(f"x{i}-{uuid.uuid4().hex[:6]}.example")

    assert len(routing._cache) == bound
    with django_assert_num_queries(0):
        assert routing.brand_for_host(host) == brand_a
    routing.tenant_cache_clear()


def test_the_callback_app_cache_is_bounded(db, brand_a, settings):
    settings.EKR_TENANT_CACHE_SECONDS = 60
    callback_selectors.wechat_app_cache_clear()
    app = brand_a.wechat_apps.first()
    for _ in range(3):
        assert callback_selectors.wechat_app_for_callback(app.appid) == app
    for i in range(200):  # unknown appids are never stored
        assert callback_selectors.wechat_app_for_callback(f"wxunknown{i}") is None
    assert len(callback_selectors._apps) == 1
    assert callback_selectors._apps.max_entries <= 10_000
    callback_selectors.wechat_app_cache_clear()


def test_ledger_functions_do_not_grow_with_brands(committed_db, new_brand):
    from members.models import Member
    from points.services import points_earn, points_redeem

    balances = []
    for i in range(3):
        brand = new_brand("prep")
        with schema_context(brand.schema_name):
            member = Member.objects.create(openid=f"o-prep-{i}")
            points_earn(member=member, points=10 + i, idempotency_key="e", reason="t")
            points_redeem(member=member, points=3, idempotency_key="r", reason="t")
            balances.append(member.points_account.balance)
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE p.proname IN ('points_credit', 'points_debit') ORDER BY 1"
        )
        homes = [row[0] for row in cursor.fetchall()]

    assert balances == [7, 8, 9]
    assert homes == ["public", "public"]  # one copy for every brand: a session caches one plan set, not one per brand
