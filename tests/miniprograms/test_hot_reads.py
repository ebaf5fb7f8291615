"""The pay notification's and the order create's reads in SQL written once (core.sql_reads) give what the querysets
they stand for give: the mini-program's app (with its decrypted merchant key), the order locked for marking it paid
(with member, tier and store), the guide an order is attributed to."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from core.errors import ApplicationError
from members.models import CardLevel, Guide, Member
from miniprograms.models import GuideTouch, Order
from miniprograms.payments.gateways import _app, gateway_for
from miniprograms.selectors import guide_attributed, order_lock_by_number
from miniprograms.services.orders import order_place
from tenants.models import WeChatApp
from tests.helpers import call_blocked_on_our_lock


def _fields(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_the_app_read_gives_the_app_of_the_current_brand_only(world, brand_a, brand_b):
    with schema_context(brand_a.schema_name):
        app = _app(world.app.appid)
        expected = WeChatApp.objects.select_related("brand").get(appid=world.app.appid)
        assert _fields(app) == _fields(expected) and _fields(app.brand) == _fields(expected.brand)
        assert app.mch_key == "k" * 32  # decrypted as the ORM does
        assert gateway_for(world.app.appid).app.mch_id == world.app.mch_id
    with schema_context(brand_b.schema_name), pytest.raises(ApplicationError) as refused:
        gateway_for(world.app.appid)  # brand A's mini-program from brand B's host
    assert refused.value.code == "payment_not_configured"


def test_the_app_read_sees_a_new_merchant_key_at_once(world, brand_a):
    with schema_context(brand_a.schema_name):
        assert _app(world.app.appid).mch_key == "k" * 32
        world.app.mch_key = "n" * 32
        world.app.save(update_fields=["mch_key"])
        assert _app(world.app.appid).mch_key == "n" * 32


def _placed(world, member):
    return order_place(member=member, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 1}])


def test_the_order_lock_read_gives_the_order_with_member_tier_and_store(world, brand_a):
    with schema_context(brand_a.schema_name):
        gold = CardLevel.objects.create(name="Gold", rank=7, points_multiplier=Decimal("1.50"))
        Member.objects.filter(pk=world.alice.pk).update(tier=gold)
        with_tier, without_tier = _placed(world, world.alice), _placed(world, world.bob)
        no_member = _placed(world, world.bob)
        Order.objects.filter(pk=no_member.pk).update(member=None)
        for order in (with_tier, without_tier, no_member):
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                got = order_lock_by_number(order.number)
                attached = (got.member, got.member and got.member.tier, got.store)  # no query: attached
            assert len([q for q in queries if q["sql"].startswith("SELECT")]) == 1, queries.captured_queries
            assert attached[2].pk == got.store_id
            expected = Order.objects.select_related("member", "member__tier", "store").get(pk=order.pk)
            assert _fields(got) == _fields(expected) and _fields(got.store) == _fields(expected.store)
            assert (got.member and _fields(got.member)) == (expected.member and _fields(expected.member))
            if expected.member:
                assert (got.member.tier and _fields(got.member.tier)) == (
                    expected.member.tier and _fields(expected.member.tier)
                )
        with transaction.atomic():
            assert order_lock_by_number(with_tier.number).member.tier.points_multiplier == Decimal("1.50")
            assert order_lock_by_number(no_member.number).member is None
            assert order_lock_by_number("nothing-by-this-number") is None


def test_the_order_lock_read_holds_the_order_row_until_commit(new_brand, fake_wechat):
    from tests.miniprograms.conftest import build_world

    brand = new_brand("lock")
    world = build_world(brand, fake_wechat)
    with schema_context(brand.schema_name):
        order = _placed(world, world.alice)
        with transaction.atomic():
            order_lock_by_number(order.number)

            # when: another connection wants the same row
            def other():
                with transaction.atomic():
                    return Order.objects.select_for_update().get(pk=order.pk).status

            thread, out = call_blocked_on_our_lock(brand.schema_name, other)  # parked on our lock
            Order.objects.filter(pk=order.pk).update(status=Order.Status.CANCELLED)
        thread.join(30)
        assert out["result"] == Order.Status.CANCELLED  # it waited for our commit and read what we wrote


def test_guide_attribution_is_the_last_touch_of_an_active_guide_within_the_window(world, brand_a, settings):
    settings.MINIPROGRAMS_GUIDE_ATTRIBUTION_DAYS = 7
    now = timezone.now()
    with schema_context(brand_a.schema_name):
        late = Guide.objects.create(name="Late", employee_no="E-late", store=world.s1, phone="13800000000")
        retired = Guide.objects.create(name="Retired", employee_no="E-ret", store=world.s1, active=False)
        old = Guide.objects.create(name="Old", employee_no="E-old", store=world.s1)
        tie = Guide.objects.create(name="Tie", employee_no="E-tie", store=world.s1)
        for guide, at in (
            (world.guide, now - timedelta(days=2)),
            (late, now - timedelta(days=1)),
            (tie, now - timedelta(days=1)),  # same instant, later id: wins the tie
            (retired, now - timedelta(hours=1)),  # inactive: skipped
            (old, now - timedelta(days=8)),  # outside the window
            (old, now + timedelta(hours=1)),  # after `at`
        ):
            GuideTouch.objects.create(member=world.alice, guide=guide, touched_at=at)

        def expected(at):
            since = at - timedelta(days=7)
            touch = (
                GuideTouch.objects.filter(
                    member=world.alice, touched_at__gte=since, touched_at__lte=at, guide__active=True
                )
                .select_related("guide")
                .order_by("-touched_at", "-id")
                .first()
            )
            return touch and _fields(touch.guide)

        for at in (now, now - timedelta(days=1, hours=12), now - timedelta(days=9), now + timedelta(hours=2)):
            got = guide_attributed(member=world.alice, at=at)
            assert (got and _fields(got)) == expected(at), at
        assert guide_attributed(member=world.alice, at=now).pk == tie.pk
        assert guide_attributed(member=world.bob, at=now) is None
        GuideTouch.objects.filter(guide=tie).delete()
        assert guide_attributed(member=world.alice, at=now).phone == "13800000000"  # decrypted
        assert connection.schema_name == brand_a.schema_name
