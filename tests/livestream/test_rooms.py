"""Rooms and goods against the fake WeChat: creation (and the anchor's real-name QR code), goods audit, errcodes
in the one error shape, status sync (9410000 is an empty list), pushing to followers, external rooms."""

from __future__ import annotations

import datetime as dt
import json

from django_tenants.utils import schema_context

from livestream.models import LiveGoods, LiveRoom
from livestream.services.sync import rooms_sync
from livestream.wechat import fen_to_yuan
from tests.livestream.conftest import IMAGE, clean, external_payload, room_payload


def _body(call) -> dict:
    return json.loads(call[3] or b"{}")


def test_fen_to_yuan_is_exact():
    assert [fen_to_yuan(f) for f in (1, 10, 1990, 123456)] == [0.01, 0.1, 19.9, 1234.56]


def test_hq_creates_a_wechat_room_with_uploaded_images(world, hq, fake_wechat):
    response = hq(world).post("/api/v1/console/live/rooms", room_payload(), format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "upcoming" and body["source"] == "wechat_live"
    assert len(fake_wechat.calls_to("/cgi-bin/media/upload")) == 3
    sent = _body(fake_wechat.calls_to("/wxaapi/broadcast/room/create")[0])
    assert sent["name"] == "Spring show" and sent["anchorWechat"] == "lily_anchor"
    assert sent["coverImg"].startswith("MEDIA_") and sent["endTime"] - sent["startTime"] == 7200
    assert body["wechat_room_id"] == fake_wechat.live_state()["next_room"] - 1


def test_unverified_anchor_gets_the_qr_code_and_the_draft_can_be_published_later(world, hq, fake_wechat):
    fake_wechat.live_state()["unverified_anchors"].add("lily_anchor")

    refused = hq(world).post("/api/v1/console/live/rooms", room_payload(), format="json")

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "live_anchor_not_verified"
    assert error["fields"]["qrcode_url"] == "https://res.wx.qq.com/fake-realname/lily_anchor.png"
    room_id = error["fields"]["room_id"]
    with schema_context(world.schema):
        room = LiveRoom.objects.get(pk=room_id)
        assert room.status == "draft" and room.wechat_room_id is None and "live_anchor_not_verified" in room.last_error

    fake_wechat.live_state()["unverified_anchors"].clear()  # the anchor scanned the code
    published = hq(world).post(f"/api/v1/console/live/rooms/{room_id}/publish")
    assert published.status_code == 200 and published.json()["status"] == "upcoming"
    assert (
        hq(world).post(f"/api/v1/console/live/rooms/{room_id}/publish").json()["wechat_room_id"]
        == published.json()["wechat_room_id"]
    )  # publishing again changes nothing
    assert len(fake_wechat.calls_to("/wxaapi/broadcast/room/create")) == 2


def test_wechat_errcodes_become_clear_codes(world, hq, fake_wechat):
    fake_wechat.fail_next("/wxaapi/broadcast/room/create", {"errcode": 300028, "errmsg": "name risky"})
    response = hq(world).post("/api/v1/console/live/rooms", room_payload(), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "live_room_name_banned"
    assert response.json()["error"]["fields"]["errcode"] == 300028

    fake_wechat.fail_next("/wxaapi/broadcast/room/create", {"errcode": -1, "errmsg": "system busy"})
    busy = hq(world).post("/api/v1/console/live/rooms", room_payload(), format="json")
    assert (busy.status_code, busy.json()["error"]["code"]) == (502, "wechat_unavailable")

    fake_wechat.live_state()["no_permission"] = True
    response = hq(world).post("/api/v1/console/live/rooms", room_payload(), format="json")
    assert (response.status_code, response.json()["error"]["code"]) == (403, "live_permission_missing")


def test_missing_images_are_field_errors_not_500(world, hq):
    response = hq(world).post("/api/v1/console/live/rooms", clean(room_payload(share_image=None)), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"share_image": ["required"]}
    bad = hq(world).post("/api/v1/console/live/rooms", room_payload(cover_image="%%%"), format="json")
    assert bad.status_code == 400 and bad.json()["error"]["fields"] == {"cover_image": ["not base64"]}


def test_goods_go_through_audit_and_into_the_room(world, hq, fake_wechat):
    client = hq(world)
    room = client.post("/api/v1/console/live/rooms", room_payload(), format="json").json()
    goods = client.post(
        "/api/v1/console/live/goods",
        {
            "name": "Green tea",
            "price_fen": 1990,
            "url": f"pages/shop/product?id={world.product.pk}",
            "cover_image": IMAGE,
            "product_id": world.product.pk,
        },
        format="json",
    )
    assert goods.status_code == 201, goods.content
    goods = goods.json()
    sent = _body(fake_wechat.calls_to("/wxaapi/broadcast/goods/add")[0])["goodsInfo"]
    assert sent["price"] == 19.9 and sent["priceType"] == 1 and goods["audit_status"] == 1

    refused = client.post(f"/api/v1/console/live/rooms/{room['id']}/goods", {"goods_ids": [goods["id"]]}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "live_goods_not_approved")
    in_review = client.delete(f"/api/v1/console/live/goods/{goods['id']}")
    assert (in_review.status_code, in_review.json()["error"]["code"]) == (409, "live_goods_in_review")

    fake_wechat.live_set_audit(goods["wechat_goods_id"], 2)
    with schema_context(world.schema):
        assert rooms_sync().goods_changed == 1
        assert LiveGoods.objects.get(pk=goods["id"]).audit_status == 2
    added = client.post(f"/api/v1/console/live/rooms/{room['id']}/goods", {"goods_ids": [goods["id"]]}, format="json")
    assert added.status_code == 200 and added.json()["goods_ids"] == [goods["id"]]
    assert fake_wechat.live_state()["rooms"][room["wechat_room_id"]]["goods"] == [goods["wechat_goods_id"]]


def test_goods_prices_checked_before_wechat(world, hq, fake_wechat):
    response = hq(world).post(
        "/api/v1/console/live/goods",
        {
            "name": "Tea set",
            "price_fen": 1000,
            "price_type": 3,
            "price2_fen": 1200,
            "url": "pages/p",
            "cover_image": IMAGE,
        },
        format="json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "live_price_invalid")
    assert fake_wechat.calls_to("/wxaapi/broadcast/goods/add") == []


def test_status_sync_moves_rooms_and_an_empty_list_is_not_an_error(world, hq, fake_wechat):
    room = hq(world).post("/api/v1/console/live/rooms", room_payload(), format="json").json()
    later = hq(world).post("/api/v1/console/live/rooms", room_payload(name="Later show"), format="json").json()
    with schema_context(world.schema):
        fake_wechat.live_set_status(room["wechat_room_id"], 101)
        assert rooms_sync().changed == [room["id"]]
        assert LiveRoom.objects.get(pk=room["id"]).status == "live"
        fake_wechat.live_set_status(room["wechat_room_id"], 103)
        assert rooms_sync().ended == [room["id"]]
        assert LiveRoom.objects.get(pk=room["id"]).replay_urls == [
            f"https://res.wx.qq.com/fake-replay/{room['wechat_room_id']}.m3u8"
        ]
        fake_wechat.live_state()["rooms"].clear()  # WeChat answers 9410000 (no rooms at all)
        calls = len(fake_wechat.calls_to("/wxa/business/getliveinfo"))
        result = rooms_sync()  # the later room is still active: WeChat is asked, answers 9410000
        assert len(fake_wechat.calls_to("/wxa/business/getliveinfo")) == calls + 1
        assert result.error == "" and result.changed == []
        assert LiveRoom.objects.get(pk=later["id"]).status == "upcoming"


def test_sync_without_active_rooms_makes_no_wechat_call(world, fake_wechat):
    with schema_context(world.schema):
        assert rooms_sync().changed == []
    assert fake_wechat.calls_to("/wxa/business/getliveinfo") == []


def test_push_to_followers_once_a_day_and_only_while_live(world, hq, fake_wechat):
    client = hq(world)
    room = client.post("/api/v1/console/live/rooms", room_payload(), format="json").json()
    fake_wechat.live_state()["followers"] = [
        {"openid": f"o-f{i}", "subscribe_time": 1, "room_status": 102, "room_id": room["wechat_room_id"]}
        for i in range(3)
    ]
    not_live = client.post(f"/api/v1/console/live/rooms/{room['id']}/push")
    assert (not_live.status_code, not_live.json()["error"]["code"]) == (409, "live_not_live")
    assert client.get(f"/api/v1/console/live/rooms/{room['id']}").json()["push_state"] == "not_live"

    fake_wechat.live_set_status(room["wechat_room_id"], 101)
    pushed = client.post(f"/api/v1/console/live/rooms/{room['id']}/push")
    assert pushed.status_code == 200 and pushed.json()["pushed"] == 3
    assert _body(fake_wechat.calls_to("/wxa/business/push_message")[-1])["user_openid"] == ["o-f0", "o-f1", "o-f2"]
    again = client.post(f"/api/v1/console/live/rooms/{room['id']}/push")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "live_already_pushed_today")
    assert client.get(f"/api/v1/console/live/rooms/{room['id']}").json()["push_state"] == "already_pushed_today"


def test_edit_and_delete_only_before_the_show(world, hq, fake_wechat):
    client = hq(world)
    room = client.post("/api/v1/console/live/rooms", room_payload(), format="json").json()
    edited = client.patch(f"/api/v1/console/live/rooms/{room['id']}", {"name": "Summer show"}, format="json")
    assert edited.status_code == 200 and edited.json()["name"] == "Summer show"
    assert fake_wechat.live_state()["rooms"][room["wechat_room_id"]]["name"] == "Summer show"
    share = client.get(f"/api/v1/console/live/rooms/{room['id']}/share-code").json()
    assert share["page_path"].endswith(f"room_id={room['wechat_room_id']}")

    fake_wechat.live_set_status(room["wechat_room_id"], 101)
    with schema_context(world.schema):
        rooms_sync()
    late = client.patch(f"/api/v1/console/live/rooms/{room['id']}", {"name": "Too late"}, format="json")
    assert (late.status_code, late.json()["error"]["code"]) == (409, "live_room_state")
    assert client.delete(f"/api/v1/console/live/rooms/{room['id']}").status_code == 409


def test_external_room_goes_live_and_ends_by_the_clock(world, hq):
    response = hq(world).post("/api/v1/console/live/rooms", clean(external_payload()), format="json")
    assert response.status_code == 201, response.content
    room = response.json()
    assert room["status"] == "upcoming" and room["wechat_room_id"] is None
    with schema_context(world.schema):
        start = LiveRoom.objects.get(pk=room["id"]).start_at
        rooms_sync(now=start + dt.timedelta(minutes=1))
        assert LiveRoom.objects.get(pk=room["id"]).status == "live"
        rooms_sync(now=start + dt.timedelta(hours=2, minutes=10))  # within the 30-minute grace
        assert LiveRoom.objects.get(pk=room["id"]).status == "live"
        rooms_sync(now=start + dt.timedelta(hours=2, minutes=31))
        ended = LiveRoom.objects.get(pk=room["id"])
        assert ended.status == "ended" and ended.coupon_state == "issuing" and ended.ended_at == ended.end_at
