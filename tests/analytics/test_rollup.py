"""The rollup job: idempotent, incremental from watermarks, corrects past days on late facts, never overlaps
itself, and runs per brand through beat's fan-out on a real worker."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection, connections
from django.forms.models import model_to_dict
from django_tenants.utils import schema_context

from analytics.models import BrandDay, GuideDay, StoreDay
from analytics.rollup import _lock_key, rollup_day, rollup_run
from tests.analytics.conftest import (
    D,
    at,
    build_world,
    member,
    nonmember_sale,
    order,
    refund,
    visit,
)
from tests.helpers import wait_until

ONE = dt.timedelta(days=1)


def _snapshot(day):
    def strip(row):
        return {k: v for k, v in model_to_dict(row).items() if k not in ("id", "rolled_up_at")}

    return (
        [strip(r) for r in StoreDay.objects.filter(day=day).order_by("store_id")],
        [strip(r) for r in GuideDay.objects.filter(day=day).order_by("guide_id")],
        [strip(r) for r in BrandDay.objects.filter(day=day)],
    )


def test_rebuilding_a_day_twice_leaves_the_same_rows(world):
    with schema_context(world.schema):
        alice = member(joined=at(D, 8), openid="o-a", channel="store_counter", join_store=world.s1)
        order(store=world.s1, paid=at(D, 9), channel="online", member=alice, guide=world.g1)
        nonmember_sale(store=world.s2, paid=at(D, 10), kind="receipt")
        visit(alice, D)
        rollup_day(D)
        first = _snapshot(D)
        rollup_day(D)
        assert _snapshot(D) == first
        assert StoreDay.objects.filter(day=D).count() == 2 and BrandDay.objects.filter(day=D).count() == 1


def test_run_rebuilds_recent_days_and_a_late_refund_lands_on_its_day_keeping_the_paid_day(world):
    with schema_context(world.schema):
        sale = order(store=world.s1, paid=at(D, 10), total=2000)
        assert rollup_run(now=at(D, 20)).days == [D - ONE, D]
        assert rollup_run(now=at(D + 5 * ONE, 1)).days == [D + i * ONE for i in range(-1, 6)]  # the gap is filled
        refund(order=sale, decided=at(D + 6 * ONE, 9))

        result = rollup_run(now=at(D + 6 * ONE, 10))

        assert {D + 5 * ONE, D + 6 * ONE} <= set(result.days)  # (and days of the ids behind the watermark)
        assert StoreDay.objects.get(day=D, store_id=world.s1.pk).gmv_pos_fen == 2000
        assert StoreDay.objects.get(day=D + 6 * ONE, store_id=world.s1.pk).refunds_fen == 2000
        again = _snapshot(D + 6 * ONE)
        rollup_run(now=at(D + 6 * ONE, 10))
        assert _snapshot(D + 6 * ONE) == again


def test_a_pos_batch_sent_days_late_corrects_the_day_it_was_sold(world):
    from miniprograms.models import Product, Sku
    from miniprograms.services.pos import pos_orders_record

    with schema_context(world.schema):
        Sku.objects.create(product=Product.objects.create(name="Tea"), code="TEA-1", price_fen=800)
        order(store=world.s1, paid=at(D, 10), total=1000)
        rollup_run(now=at(D, 23))
        rollup_run(now=at(D + 4 * ONE, 9))
        assert StoreDay.objects.get(day=D, store_id=world.s1.pk).orders_pos == 1

        results = pos_orders_record(
            store=world.s1,
            receipts=[
                {
                    "receipt_no": "LATE-1",
                    "sold_at": at(D, 15),
                    "phone": "13800138000",
                    "lines": [{"sku_code": "TEA-1", "quantity": 2, "unit_price_fen": 800}],
                }
            ],
        )
        assert results[0].status == "created"
        result = rollup_run(now=at(D + 4 * ONE, 10))

        assert D in result.days
        day = StoreDay.objects.get(day=D, store_id=world.s1.pk)
        assert (day.orders_pos, day.gmv_pos_fen, day.nonmember_buyers) == (2, 2600, 1)


def test_a_run_while_another_run_of_the_brand_holds_the_lock_skips(world):
    other = connections.create_connection("default")
    try:
        with schema_context(world.schema):
            key = _lock_key()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        with schema_context(world.schema):
            assert rollup_run(now=at(D)).skipped is True
            assert not BrandDay.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        with schema_context(world.schema):
            assert rollup_run(now=at(D)).skipped is False
    finally:
        other.close()


def test_beat_fans_the_rollup_out_to_every_brand_hourly():
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-rollup"]
    assert entry["task"] == "core.fan_out_to_brands"
    assert entry["kwargs"]["task_name"] == "analytics.rollup"
    assert entry["schedule"].minute == {20}


@pytest.mark.worker
def test_the_rollup_task_runs_in_each_brand_on_a_real_worker(new_brand, celery_worker_process):
    from django.utils import timezone

    from core.tasks import fan_out_to_brands

    brands = [new_brand("an"), new_brand("an")]
    today = timezone.localdate()
    for i, brand in enumerate(brands):
        w = build_world(brand)
        with schema_context(brand.schema_name):
            for _ in range(i + 1):
                order(store=w.s1, paid=timezone.now(), total=100)

    fan_out_to_brands.delay("analytics.rollup", window_seconds=1)

    for i, brand in enumerate(brands):

        def rolled(brand=brand):
            with schema_context(brand.schema_name):
                return BrandDay.objects.filter(day=today).first()

        row = wait_until(rolled, timeout=60, message=f"rollup in {brand.schema_name}")
        assert row.orders_pos == i + 1 and row.gmv_pos_fen == 100 * (i + 1)
    connection.set_schema_to_public()


def test_backfill_command_rebuilds_a_range_with_a_progress_bar(world, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with schema_context(world.schema):
        order(store=world.s1, paid=at(D, 10), total=700)
        order(store=world.s2, paid=at(D + 2 * ONE, 10), total=300)
    connection.set_schema_to_public()
    call_command("analytics_backfill", "--brand", world.brand.slug, "--from", str(D), "--to", str(D + 2 * ONE))
    captured = capsys.readouterr()
    assert "3/3 days" in captured.err and "3 days rebuilt" in captured.out
    with schema_context(world.schema):
        assert sorted(BrandDay.objects.values_list("day", "gmv_pos_fen")) == [
            (D, 700),
            (D + ONE, 0),
            (D + 2 * ONE, 300),
        ]
    with pytest.raises(CommandError):
        call_command("analytics_backfill", "--brand", world.brand.slug, "--from", str(D), "--to", str(D - ONE))


def test_month_tables_follow_their_days_including_late_facts(world):
    from analytics import selectors
    from analytics.models import StoreMonth
    from analytics.rollup import rollup_range
    from core.permissions import StaffScope

    hq = StaffScope(user_id=0, franchisee_id=None)
    march = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    with schema_context(world.schema):
        sale = order(store=world.s1, paid=at(D, 10), total=1000)
        order(store=world.s2, paid=at(D + 5 * ONE, 10), total=400, guide=world.g2)
        rollup_range(*march)
        assert StoreMonth.objects.get(month=march[0], store_id=world.s1.pk).gmv_pos_fen == 1000

        def by_month(date_from, date_to, by="store"):
            return {
                (r["period"], r["key"]): (r["gmv_fen"], r["refunds_fen"])
                for r in selectors.sales_figures(scope=hq, date_from=date_from, date_to=date_to, grain="month", by=by)
            }

        assert by_month(*march) == {(march[0], world.s1.pk): (1000, 0), (march[0], world.s2.pk): (400, 0)}
        assert by_month(*march, by="guide") == {(march[0], world.g2.pk): (400, 0)}
        # a range with a partial month reads that month from the days
        assert by_month(D + ONE, dt.date(2026, 4, 30)) == {(march[0], world.s2.pk): (400, 0)}

        rollup_run(now=at(dt.date(2026, 4, 2), 8))
        refund(order=sale, decided=at(dt.date(2026, 4, 3), 9))
        order(store=world.s1, paid=at(D, 11), total=50)  # a POS receipt for March, sent in April
        rollup_run(now=at(dt.date(2026, 4, 3), 10))

        assert by_month(march[0], dt.date(2026, 4, 30)) == {
            (march[0], world.s1.pk): (1050, 0),
            (march[0], world.s2.pk): (400, 0),
            (dt.date(2026, 4, 1), world.s1.pk): (0, 1000),
        }


def test_a_periodic_run_skips_while_a_backfill_holds_the_brands_lock(new_brand):
    from analytics import rollup

    world = build_world(new_brand("lk"))
    started, release = threading.Event(), threading.Event()
    seen = {}

    def slow_progress(done, total):
        started.set()
        release.wait(30)

    def backfill():
        try:
            with schema_context(world.schema):
                rollup.rollup_range(D, D, progress=slow_progress)
        finally:
            connections.close_all()

    with schema_context(world.schema):
        order(store=world.s1, paid=at(D, 10), total=100)
    thread = threading.Thread(target=backfill)
    thread.start()
    try:
        assert started.wait(30)
        with schema_context(world.schema):
            seen["run"] = rollup_run(now=at(D))
    finally:
        release.set()
        thread.join(30)
    assert seen["run"].skipped is True
    with schema_context(world.schema):
        assert BrandDay.objects.get(day=D).gmv_pos_fen == 100
        assert rollup_run(now=at(D)).skipped is False
    connection.set_schema_to_public()
