"""With a real Celery worker: a WeChat room's life against the fake (create, goods audit, status sync through the
beat's per-brand fan-out, ended), and the end-of-show job queued once."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from core.tasks import fan_out_to_brands
from livestream.models import LiveGoods, LiveRoom
from tests.conftest import BRAND_PASSWORD
from tests.helpers import wait_until
from tests.livestream.conftest import IMAGE, build_world, room_payload

pytestmark = pytest.mark.worker


def _sync():
    fan_out_to_brands.apply_async(args=["livestream.sync_rooms"], kwargs={"window_seconds": 1})


def test_room_lifecycle_against_the_fake(new_brand, client_for, fake_wechat, celery_worker_process):
    brand = new_brand("live")
    world = build_world(brand, fake_wechat)
    hq = client_for(brand).as_staff("hq", BRAND_PASSWORD)
    room = hq.post("/api/v1/console/live/rooms", room_payload(), format="json").json()
    goods = hq.post(
        "/api/v1/console/live/goods",
        {
            "name": "Green tea",
            "price_fen": 1990,
            "url": "pages/p?id=1",
            "cover_image": IMAGE,
            "product_id": world.product.pk,
        },
        format="json",
    ).json()
    assert room["status"] == "upcoming" and goods["audit_status"] == 1

    fake_wechat.live_set_audit(goods["wechat_goods_id"], 2)
    _sync()

    def goods_approved():
        with schema_context(brand.schema_name):
            return LiveGoods.objects.get(pk=goods["id"]).audit_status == 2

    wait_until(goods_approved, timeout=30, message="goods audit synced")
    assert (
        hq.post(
            f"/api/v1/console/live/rooms/{room['id']}/goods", {"goods_ids": [goods["id"]]}, format="json"
        ).status_code
        == 200
    )

    def status_is(expected):
        def check():
            with schema_context(brand.schema_name):
                return LiveRoom.objects.get(pk=room["id"]).status == expected

        return check

    fake_wechat.live_state()["followers"] = [
        {"openid": "o-fan", "subscribe_time": 1, "room_status": 102, "room_id": room["wechat_room_id"]}
    ]
    fake_wechat.live_set_status(room["wechat_room_id"], 101)
    _sync()
    wait_until(status_is("live"), timeout=30, message="room live")

    def pushed():
        with schema_context(brand.schema_name):
            return LiveRoom.objects.get(pk=room["id"]).push_state

    assert wait_until(pushed, timeout=30, message="followers told") == "pushed:1"  # once, when it went live
    assert len(fake_wechat.calls_to("/wxa/business/push_message")) == 1
    fake_wechat.live_set_status(room["wechat_room_id"], 103)
    _sync()
    wait_until(status_is("ended"), timeout=30, message="room ended")

    def end_of_show_done():
        with schema_context(brand.schema_name):
            return LiveRoom.objects.get(pk=room["id"]).coupon_state == "done"

    wait_until(end_of_show_done, timeout=30, message="end-of-show job")

    def replay_fetched():
        with schema_context(brand.schema_name):
            return LiveRoom.objects.get(pk=room["id"]).replay_urls

    wait_until(replay_fetched, timeout=30, message="replay urls")
    with schema_context(brand.schema_name):
        ended = LiveRoom.objects.get(pk=room["id"])
        assert ended.wechat_live_status == 103 and ended.started_at is not None and ended.ended_at is not None
        assert ended.replay_urls == [f"https://res.wx.qq.com/fake-replay/{room['wechat_room_id']}.m3u8"]


def _issued(brand, room_id):
    from miniprograms.models import Coupon

    with schema_context(brand.schema_name):
        return list(Coupon.objects.filter(issue_key=f"live:{room_id}").values_list("member_id", flat=True))


def test_end_of_show_queued_twice_issues_each_coupon_once(new_brand, celery_worker_process):
    from livestream.tasks import end_of_show
    from tests.livestream.factories import audience, coupon_template, ended_room

    brand = new_brand("cpn")
    with schema_context(brand.schema_name):
        room = ended_room(templates=[coupon_template("A"), coupon_template("B")])
        member_ids = audience(room, 400)
    for _ in range(2):  # a duplicate delivery, and a second job racing the first
        end_of_show.apply_async(args=[room.pk], kwargs={"batch_size": 50}, schema=brand.schema_name)

    def done():
        with schema_context(brand.schema_name):
            return LiveRoom.objects.get(pk=room.pk).coupon_state == "done"

    wait_until(done, timeout=120, message="coupons issued")
    issued = _issued(brand, room.pk)
    assert len(issued) == 800 and sorted(set(issued)) == sorted(member_ids)


def test_end_of_show_killed_midway_resumes_and_issues_each_coupon_once(new_brand, celery_worker_process):
    import os

    from livestream.tasks import end_of_show, sync_rooms
    from tests.livestream.factories import audience, coupon_template, ended_room

    brand = new_brand("kill")
    with schema_context(brand.schema_name):
        room = ended_room(templates=[coupon_template()])
        member_ids = audience(room, 3000)
    end_of_show.apply_async(args=[room.pk], kwargs={"batch_size": 10}, schema=brand.schema_name)

    def progressed():
        with schema_context(brand.schema_name):
            return LiveRoom.objects.get(pk=room.pk).coupon_cursor > 0

    wait_until(progressed, timeout=60, message="first batches")
    celery_worker_process.kill()  # SIGKILL mid-issue
    with schema_context(brand.schema_name):
        cut = LiveRoom.objects.get(pk=room.pk)
    assert cut.coupon_state == "issuing" and 0 < len(_issued(brand, room.pk)) < 3000

    os.environ["EKR_LIVE_COUPON_STALE_SECONDS"] = "0"  # the sweeper may re-queue at once
    try:
        celery_worker_process.restart()
        sync_rooms.apply_async(schema=brand.schema_name)  # the periodic sync, the sweeper of stalled issues

        def done():
            with schema_context(brand.schema_name):
                return LiveRoom.objects.get(pk=room.pk).coupon_state == "done"

        wait_until(done, timeout=180, message="coupons resumed")
    finally:
        os.environ.pop("EKR_LIVE_COUPON_STALE_SECONDS", None)
        celery_worker_process.restart()  # later tests get a worker with the default settings
    issued = _issued(brand, room.pk)
    assert len(issued) == 3000 and sorted(issued) == sorted(member_ids)
