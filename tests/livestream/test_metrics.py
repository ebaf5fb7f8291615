"""Live metrics, each checked against a show whose every figure is known."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone
from django_tenants.utils import schema_context

from livestream.metrics import room_metrics
from livestream.models import LiveJoin, LiveOrder, LiveRoomStats
from members.models import Member
from miniprograms.models import Coupon, Order
from tests.livestream.factories import coupon_template, ended_room, viewer


def order(world, member, *, at, total=10000, paid=True, coupon=None):
    return Order.objects.create(
        number=uuid.uuid4().hex[:20],
        shop=world.shop,
        store=world.shop.store,
        member=member,
        subtotal_fen=total,
        total_fen=total,
        created_at=at,
        paid_at=at if paid else None,
        status="paid" if paid else "pending_payment",
        coupon=coupon,
    )


def test_every_metric_of_one_show(world):
    with schema_context(world.schema):
        template = coupon_template()
        room = ended_room(templates=[template], ended_ago=dt.timedelta(hours=1))
        LiveRoomStats.objects.filter(pk=room.pk).update(peak_concurrent=3)
        start, end = room.started_at, room.ended_at
        carol = Member.objects.create(openid="o-carol-" + uuid.uuid4().hex[:6])
        newbie = Member.objects.create(openid="o-newbie-" + uuid.uuid4().hex[:6])
        # alice: lapsed member, liked, buys after the show with the post-show coupon -> reactivated
        viewer(room, openid=world.alice.openid, member=world.alice, watch_seconds=600, likes=5)
        # bob: bought 30 days before (not lapsed), commented, bought during the show from the room
        viewer(room, openid=world.bob.openid, member=world.bob, watch_seconds=300, comments=2)
        # carol: lapsed member, only watched
        viewer(room, openid=carol.openid, member=carol, watch_seconds=100)
        # a visitor who joined from the room during the show (not a member when first seen), clicked a product
        viewer(room, openid=newbie.openid, member=newbie, was_member=False, watch_seconds=200, product_clicks=1)
        LiveJoin.objects.create(member=newbie, room=room)

        order(world, world.bob, at=start - dt.timedelta(days=30))
        during = order(world, world.bob, at=start + dt.timedelta(minutes=30), total=25000)
        LiveOrder.objects.create(order=during, room=room, sharer_guide_id=world.guide.pk)
        unpaid = order(world, world.bob, at=start + dt.timedelta(minutes=40), paid=False)
        LiveOrder.objects.create(order=unpaid, room=room)
        coupon = Coupon.objects.create(
            template=template,
            member=world.alice,
            source="auto",
            issue_key=f"live:{room.pk}",
            valid_until=end + dt.timedelta(hours=72),
            status="used",
        )
        order(world, world.alice, at=end + dt.timedelta(hours=5), total=8000, coupon=coupon)
        order(world, carol, at=end + dt.timedelta(hours=80))  # after the 72 hours: not reactivated

        m = room_metrics(room)

    assert (m.unique_viewers, m.member_viewers, m.non_member_viewers) == (4, 3, 1)
    assert m.peak_concurrent == 3
    assert m.average_watch_seconds == (600 + 300 + 100 + 200) // 4
    assert m.like_rate == 0.25 and m.interaction_rate == 0.75
    assert m.new_members == 1
    assert (m.orders_during_show, m.gmv_during_show_fen) == (1, 25000)
    assert (m.orders_post_show, m.gmv_post_show_fen) == (1, 8000)
    assert (m.lapsed_member_viewers, m.reactivated_members, m.reactivation_rate) == (2, 1, 0.5)


def test_members_and_not_yet_members_are_told_apart(world):
    with schema_context(world.schema):
        room = ended_room()
        viewer(room, openid=world.alice.openid, member=world.alice, watch_seconds=60)
        viewer(room, openid="o-anon-1", watch_seconds=60)
        viewer(room, openid="o-anon-2", watch_seconds=0)
        m = room_metrics(room)
    assert (m.unique_viewers, m.member_viewers, m.non_member_viewers, m.average_watch_seconds) == (3, 1, 2, 40)


def test_period_metrics_over_the_api_are_scoped(world, world_b, hq, manager):
    with schema_context(world.schema):
        from livestream.models import LiveRoom

        mine = ended_room(store=world.s1)
        theirs = ended_room(store=world.s2)
        brand = ended_room()
        for room, n in ((mine, 2), (theirs, 3), (brand, 4)):
            for i in range(n):
                viewer(room, openid=f"o-p-{room.pk}-{i}", watch_seconds=10)
        viewer(brand, openid=f"o-p-{mine.pk}-0", watch_seconds=10)  # one person in two shows
        day = timezone.localdate(LiveRoom.objects.get(pk=mine.pk).start_at)
    query = f"?date_from={day - dt.timedelta(days=1)}&date_to={day + dt.timedelta(days=1)}"

    everything = hq(world).get("/api/v1/console/live/metrics" + query).json()
    assert (everything["rooms"], everything["viewer_shows"], everything["unique_viewers"]) == (3, 10, 9)
    m1 = manager(world, "m1").get("/api/v1/console/live/metrics" + query).json()
    assert (m1["rooms"], m1["viewer_shows"], m1["room_ids"]) == (1, 2, [mine.pk])
    refused = manager(world, "m1").get(f"/api/v1/console/live/metrics{query}&store_id={world.s2.pk}")
    assert refused.status_code == 404
    assert manager(world, "m2").get(f"/api/v1/console/live/rooms/{mine.pk}/metrics").status_code == 404
    assert hq(world).get("/api/v1/console/live/metrics" + query + "&brand_rooms_only=true").json()["room_ids"] == [
        brand.pk
    ]
    assert hq(world_b).get("/api/v1/console/live/metrics" + query).json()["rooms"] == 0
    bad = hq(world).get(f"/api/v1/console/live/metrics?date_from={day}&date_to={day - dt.timedelta(days=2)}")
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"date_to": ["before date_from"]}


def test_the_analytics_dashboard_reads_these_metrics(world, hq, manager):
    with schema_context(world.schema):
        mine = ended_room(store=world.s1)
        other = ended_room(store=world.s2)
        viewer(mine, openid=world.alice.openid, member=world.alice, watch_seconds=90, likes=1)
        viewer(other, openid=world.bob.openid, member=world.bob, watch_seconds=30)
        day = timezone.localdate(mine.start_at)
    query = {"from": str(day), "to": str(day)}

    body = hq(world).get("/api/v1/console/analytics/live", query).json()
    assert body["available"] is True
    assert sorted(r["room_id"] for r in body["rooms"]) == sorted([mine.pk, other.pk])
    m1 = manager(world, "m1").get("/api/v1/console/analytics/live", query).json()
    assert [r["room_id"] for r in m1["rooms"]] == [mine.pk]
    assert m1["total"]["like_rate"] == {"numerator": 1, "denominator": 1}
