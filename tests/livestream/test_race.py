"""Races for real (own connections, a barrier): two folds of one room, two post-show issues of one room, and a
member claiming the same template while the post-show issue runs."""

from __future__ import annotations

import threading

from django.db import connection, connections
from django_tenants.utils import schema_context

from core.redis_client import redis_client
from livestream.models import LiveRoomStats, LiveViewer
from livestream.services.audience import keys, room_fold
from livestream.services.coupons import post_show_coupons_step
from miniprograms.models import Coupon, CouponTemplate
from miniprograms.services.coupons import coupon_claim
from tests.livestream.factories import audience, coupon_template, ended_room


def race(schema: str, *calls):
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(i, fn):
        try:
            with schema_context(schema):
                barrier.wait()
                results[i] = fn()
        except Exception as exc:  # the assertion below shows it
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_two_folds_of_one_room_count_each_event_once(new_brand):
    brand = new_brand("fold")
    with schema_context(brand.schema_name):
        room = ended_room(status="live", coupon_state="none")
        stream = keys(brand.schema_name, room.pk)["stream"]
        for i in range(3000):
            redis_client().xadd(stream, {"o": f"o-r{i % 300}", "e": "h;l2", "g": "", "m": ""})
    connection.set_schema_to_public()

    folded = race(
        brand.schema_name,
        lambda: room_fold(room_id=room.pk, max_entries=500),
        lambda: room_fold(room_id=room.pk, max_entries=500),
    )

    assert sum(folded) == 3000
    with schema_context(brand.schema_name):
        stats = LiveRoomStats.objects.get(pk=room.pk)
        assert (stats.events, stats.likes) == (3000, 6000)
        assert LiveViewer.objects.filter(room=room).count() == 300
        assert sum(LiveViewer.objects.filter(room=room).values_list("likes", flat=True)) == 6000


def test_two_issues_and_a_claim_racing_issue_each_coupon_once(new_brand):
    brand = new_brand("iss")
    with schema_context(brand.schema_name):
        template = coupon_template(stock=10_000, per_member_limit=2)
        CouponTemplate.objects.filter(pk=template.pk).update(claimable=True)
        room = ended_room(templates=[template])
        member_ids = audience(room, 600)
        from members.models import Member

        claimer = Member.objects.get(pk=member_ids[0])
    connection.set_schema_to_public()

    race(
        brand.schema_name,
        lambda: post_show_coupons_step(room_id=room.pk, batch_size=50, max_batches=100),
        lambda: post_show_coupons_step(room_id=room.pk, batch_size=50, max_batches=100),
        lambda: coupon_claim(member=claimer, template_id=template.pk),
    )

    with schema_context(brand.schema_name):
        live = Coupon.objects.filter(template=template, issue_key=f"live:{room.pk}")
        assert live.count() == 600 and sorted(live.values_list("member_id", flat=True)) == sorted(member_ids)
        assert Coupon.objects.filter(template=template, member=claimer).count() == 2  # the claim and the show's
        assert CouponTemplate.objects.get(pk=template.pk).issued_count == 601
