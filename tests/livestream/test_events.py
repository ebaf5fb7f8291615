"""The audience endpoint: batches acknowledged in one Redis round trip, limits and error shapes, the fold into
PostgreSQL exactly once (also when a fold dies before or after its commit), attribution of orders and joins."""

from __future__ import annotations

import pytest
from django.db import transaction
from django_tenants.utils import schema_context

from core.redis_client import redis_client
from livestream.models import LiveJoin, LiveOrder, LiveRoom, LiveRoomStats, LiveViewer
from livestream.services.audience import (
    _fold_batch,
    keys,
    room_fold,
    room_live_counters,
)
from members.models import Member
from members.mp_auth import member_token_issue
from tests.helpers import BrandClient
from tests.livestream.conftest import clean, external_payload


@pytest.fixture
def room(world, hq):
    return hq(world).post("/api/v1/console/live/rooms", clean(external_payload()), format="json").json()


def post(client, room_id, events, share=None):
    body = {"events": events}
    if share is not None:
        body["share"] = share
    return client.post(f"/api/v1/mp/live/rooms/{room_id}/events", body, format="json")


def visitor(world, openid: str) -> BrandClient:
    token = member_token_issue(schema=world.schema, appid=world.app.appid, openid=openid)
    return BrandClient(world.brand).as_member(token)


def test_a_batch_is_acknowledged_and_counted_live(world, room, member_client):
    alice = member_client(world, world.alice)
    response = post(
        alice,
        room["id"],
        [
            {"type": "enter"},
            {"type": "like", "count": 12},
            {"type": "comment"},
            {"type": "product_click", "goods_id": 3},
        ],
    )
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 4, "concurrent": 1}
    post(visitor(world, "o-visitor-1"), room["id"], [{"type": "heartbeat"}])
    with schema_context(world.schema):
        live = room_live_counters(room["id"])
    assert (
        live["viewers"],
        live["concurrent"],
        live["peak_concurrent"],
        live["likes"],
        live["comments"],
        live["product_clicks"],
        live["events"],
    ) == (2, 2, 2, 12, 1, 1, 5)


def test_fold_makes_one_viewer_row_each_with_watch_time_from_heartbeats(world, room):
    with schema_context(world.schema):
        k = keys(world.schema, room["id"])
        client = redis_client()
        t0 = 1_800_000_000_000
        for i in range(9):  # enter, then a heartbeat every 15 s for two minutes
            client.xadd(
                k["stream"], {"o": "o-watch", "e": "e" if i == 0 else "h", "g": "7", "m": ""}, id=f"{t0 + i * 15000}-0"
            )
        client.xadd(k["stream"], {"o": "o-watch", "e": "x", "g": "", "m": ""}, id=f"{t0 + 125000}-0")
        client.xadd(k["stream"], {"o": "o-watch", "e": "e;l3", "g": "", "m": ""}, id=f"{t0 + 300000}-0")
        client.xadd(k["stream"], {"o": "o-other", "e": "h;c;s", "g": "", "m": "5"}, id=f"{t0 + 300000}-1")

        assert room_fold(room_id=room["id"]) == 12
        watcher = LiveViewer.objects.get(room_id=room["id"], openid="o-watch")
        # 8 gaps of 15 s + 5 s to the leave; the return after leaving starts a new stretch (no gap counted)
        assert (watcher.watch_seconds, watcher.likes, watcher.sharer_guide_id, watcher.present) == (125, 3, 7, True)
        other = LiveViewer.objects.get(room_id=room["id"], openid="o-other")
        assert (other.comments, other.shares, other.sharer_member_id, other.watch_seconds) == (1, 1, 5, 0)
        stats = LiveRoomStats.objects.get(pk=room["id"])
        assert (stats.events, stats.likes, stats.comments, stats.shares) == (12, 3, 1, 1)
        assert client.xlen(k["stream"]) == 1  # trimmed up to the cursor

        assert room_fold(room_id=room["id"]) == 0  # nothing twice
        assert LiveRoomStats.objects.get(pk=room["id"]).events == 12


def test_a_fold_that_dies_before_commit_loses_nothing_and_after_commit_counts_nothing_twice(world, room, member_client):
    alice = member_client(world, world.alice)
    for _ in range(3):
        assert post(alice, room["id"], [{"type": "like", "count": 2}]).status_code == 202
    with schema_context(world.schema):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                assert _fold_batch(room_id=room["id"], max_entries=100)[0] == 3
                raise RuntimeError("worker killed before commit")
        assert LiveRoomStats.objects.get(pk=room["id"]).likes == 0
        folded, _last = _fold_batch(room_id=room["id"], max_entries=100)  # committed, then killed before XTRIM
        assert folded == 3
        assert room_fold(room_id=room["id"]) == 0
        assert LiveRoomStats.objects.get(pk=room["id"]).likes == 6
        assert LiveViewer.objects.get(room_id=room["id"], openid=world.alice.openid).likes == 6


def test_limits_and_error_shapes(world, room, member_client, settings):
    alice = member_client(world, world.alice)
    too_many = post(alice, room["id"], [{"type": "heartbeat"}] * 51)
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "too_many_events"
    unknown = post(alice, room["id"], [{"type": "heartbeat"}, {"type": "dance"}])
    assert unknown.status_code == 400 and list(unknown.json()["error"]["fields"]) == ["events[1].type"]
    likes = post(alice, room["id"], [{"type": "like", "count": 10_000}])
    assert likes.status_code == 400 and likes.json()["error"]["fields"] == {"events[0].count": ["1 to 100"]}
    goods = post(alice, room["id"], [{"type": "add_to_cart"}])
    assert goods.status_code == 400 and "events[0].goods_id" in goods.json()["error"]["fields"]
    share = post(alice, room["id"], [{"type": "share"}], share={"guide_id": "x"})
    assert share.status_code == 400 and share.json()["error"]["fields"] == {"share.guide_id": ["a positive integer"]}
    not_a_list = alice.post(f"/api/v1/mp/live/rooms/{room['id']}/events", {"events": "h"}, format="json")
    assert not_a_list.status_code == 400 and not_a_list.json()["error"]["code"] == "invalid"
    garbage = alice.post(f"/api/v1/mp/live/rooms/{room['id']}/events", "{", content_type="application/json")
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "malformed_request"
    assert post(alice, 999999, [{"type": "heartbeat"}]).status_code == 404
    anonymous = BrandClient(world.brand).post(
        f"/api/v1/mp/live/rooms/{room['id']}/events", {"events": [{"type": "heartbeat"}]}, format="json"
    )
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
    with schema_context(world.schema):
        assert redis_client().xlen(keys(world.schema, room["id"])["stream"]) == 0  # nothing refused was kept


def test_a_viewer_past_the_rate_is_refused_and_others_are_not(world, room, member_client, settings):
    settings.EKR_LIVE_REQUESTS_PER_MINUTE = 5
    alice = member_client(world, world.alice)
    statuses = [post(alice, room["id"], [{"type": "like"}]).status_code for _ in range(7)]
    assert statuses == [202] * 5 + [429] * 2
    refused = post(alice, room["id"], [{"type": "like"}]).json()["error"]
    assert refused["code"] == "throttled" and 0 < refused["fields"]["retry_after"] <= 60
    assert post(member_client(world, world.bob), room["id"], [{"type": "like"}]).status_code == 202
    with schema_context(world.schema):
        assert room_live_counters(room["id"])["likes"] == 6


def test_a_full_stream_answers_503_not_a_silent_drop(world, room, member_client, settings):
    settings.EKR_LIVE_STREAM_CAP = 2
    alice = member_client(world, world.alice)
    assert [post(alice, room["id"], [{"type": "heartbeat"}]).status_code for _ in range(3)] == [202, 202, 503]
    with schema_context(world.schema):
        room_fold(room_id=room["id"])
    assert post(alice, room["id"], [{"type": "heartbeat"}]).status_code == 202


def test_an_ended_show_takes_no_more_events(world, room, member_client):
    import datetime as dt

    from django.utils import timezone

    from livestream.api import member as member_api

    with schema_context(world.schema):
        LiveRoom.objects.filter(pk=room["id"]).update(status="ended", ended_at=timezone.now() - dt.timedelta(hours=1))
    member_api._room_cache.clear()
    closed = post(member_client(world, world.alice), room["id"], [{"type": "heartbeat"}])
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "live_room_closed"


def test_two_brands_keep_separate_audiences(world, world_b, hq, member_client):
    a = hq(world).post("/api/v1/console/live/rooms", clean(external_payload()), format="json").json()
    b = hq(world_b).post("/api/v1/console/live/rooms", clean(external_payload()), format="json").json()
    assert post(member_client(world, world.alice), a["id"], [{"type": "like", "count": 9}]).status_code == 202
    assert post(member_client(world_b, world_b.alice), b["id"], [{"type": "like", "count": 1}]).status_code == 202
    with schema_context(world.schema):
        assert room_live_counters(a["id"])["likes"] == 9
        room_fold(room_id=a["id"])
        assert LiveViewer.objects.filter(room_id=a["id"]).count() == 1
    with schema_context(world_b.schema):
        assert room_live_counters(b["id"])["likes"] == 1
        assert room_live_counters(a["id"])["likes"] == (1 if a["id"] == b["id"] else 0)
    token_a = world.tokens[world.alice.pk]
    cross = (
        BrandClient(world_b.brand)
        .as_member(token_a)
        .post(f"/api/v1/mp/live/rooms/{b['id']}/events", {"events": [{"type": "like"}]}, format="json")
    )
    assert cross.status_code == 401


def test_an_order_from_the_room_carries_room_and_sharer(world, room, member_client):
    alice = member_client(world, world.alice)
    assert post(alice, room["id"], [{"type": "enter"}], share={"guide_id": world.guide.pk}).status_code == 202
    placed = alice.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    )
    assert placed.status_code == 201, placed.content
    bob_order = member_client(world, world.bob).post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    )
    with schema_context(world.schema):
        row = LiveOrder.objects.get(order_id=placed.json()["id"])
        assert (row.room_id, row.sharer_guide_id, row.sharer_member_id) == (room["id"], world.guide.pk, None)
        assert not LiveOrder.objects.filter(order_id=bob_order.json()["id"]).exists()  # bob never watched


def test_joining_from_a_room_records_channel_live(world, room):
    newcomer = visitor(world, "o-newcomer-live")
    assert post(newcomer, room["id"], [{"type": "enter"}]).status_code == 202
    joined = newcomer.post("/api/v1/mp/members", {"phone": "13912345678"}, format="json")
    assert joined.status_code == 201, joined.content
    plain = visitor(world, "o-newcomer-plain").post("/api/v1/mp/members", {"phone": "13912345679"}, format="json")
    assert plain.status_code == 201
    with schema_context(world.schema):
        member = Member.objects.get(openid="o-newcomer-live")
        assert member.join_channel == "live_stream"
        assert LiveJoin.objects.get(member=member).room_id == room["id"]
        assert Member.objects.get(openid="o-newcomer-plain").join_channel == "mini_program"
        room_fold(room_id=room["id"])
        assert LiveViewer.objects.get(room_id=room["id"], openid="o-newcomer-live").member_id == member.pk
