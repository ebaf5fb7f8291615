"""The mini-program live endpoints of the fake WeChat (wxaapi/broadcast/*, wxa/business/*) and media upload, in
WeChat's formats and error codes. Imported by server.py, so they are always there.

Program it:
    fake.live_state()["unverified_anchors"].add("anchor-wx")     # room/create answers 300036 with a qrcode_url
    fake.live_set_status(room_id, 103)                             # what getliveinfo reports
    fake.live_set_audit(goods_id, 2)                               # what getgoodswarehouse reports
    fake.live_state()["followers"] = [{"openid": ..., "room_id": ..., ...}]
"""

from __future__ import annotations

import json
import re
import secrets
import time

from tests.fake_wechat.server import FakeWeChat, err, ok, route

TOKEN_ERROR = (40001, "invalid credential, access_token is invalid or not latest")


def _state(fake: FakeWeChat) -> dict:
    return fake.state.setdefault(
        "live",
        {
            "rooms": {},
            "goods": {},
            "media": set(),
            "next_room": 1,
            "next_goods": 1001,
            "unverified_anchors": set(),
            "followers": [],
            "pushed": set(),
            "no_permission": False,
        },
    )


def _live_set_status(self: FakeWeChat, room_id: int, status: int) -> None:
    with self.lock:
        _state(self)["rooms"][int(room_id)]["live_status"] = status


def _live_set_audit(self: FakeWeChat, goods_id: int, status: int) -> None:
    with self.lock:
        _state(self)["goods"][int(goods_id)]["audit_status"] = status


FakeWeChat.live_state = _state
FakeWeChat.live_set_status = _live_set_status
FakeWeChat.live_set_audit = _live_set_audit


def _json(fake: FakeWeChat, query: dict, body: bytes):
    if not fake.check_token(query):
        return None, err(*TOKEN_ERROR)
    try:
        return json.loads(body or b"{}"), None
    except ValueError:
        return None, err(47001, "data format error")


@route("POST", "/cgi-bin/media/upload")
def media_upload(fake: FakeWeChat, query: dict, body: bytes):
    if not fake.check_token(query):
        return err(*TOKEN_ERROR)
    if query.get("type") not in ("image", "voice", "video", "thumb"):
        return err(40004, "invalid media type")
    if b"Content-Disposition" not in body or b'name="media"' not in body:
        return err(41005, "media data missing")
    media_id = "MEDIA_" + secrets.token_hex(12)
    with fake.lock:
        _state(fake)["media"].add(media_id)
    return 200, {"type": query["type"], "media_id": media_id, "created_at": int(time.time())}


_ROOM_FIELDS = (
    "name",
    "coverImg",
    "startTime",
    "endTime",
    "anchorName",
    "anchorWechat",
    "shareImg",
    "feedsImg",
    "type",
    "closeLike",
    "closeGoods",
    "closeComment",
)


def _check_room(fake: FakeWeChat, data: dict):
    live = _state(fake)
    if live["no_permission"]:
        return err(268489001, "no live permission")
    missing = [f for f in _ROOM_FIELDS if f not in data]
    if missing:
        return err(47001, f"data format error: missing {','.join(missing)}")
    if not 3 <= len(data["name"]) <= 17 * 2:
        return err(300002, "name length invalid")
    for field in ("coverImg", "shareImg", "feedsImg"):
        if data[field] not in live["media"]:
            return err(300006, "media_id invalid")
    now = time.time()
    if not (now + 600 <= int(data["startTime"]) <= now + 180 * 86400):
        return err(300023, "startTime must be 10 minutes to 6 months from now")
    if not 1800 <= int(data["endTime"]) - int(data["startTime"]) <= 86400:
        return err(300023, "endTime must be 30 minutes to 24 hours after startTime")
    if not re.fullmatch(r"[A-Za-z][-_A-Za-z0-9]{5,19}", data["anchorWechat"] or ""):
        return err(300030, "anchorWechat invalid")
    if data["anchorWechat"] in live["unverified_anchors"]:
        return 200, {
            "errcode": 300036,
            "errmsg": "anchor not real-name verified",
            "qrcode_url": f"https://res.wx.qq.com/fake-realname/{data['anchorWechat']}.png",
        }
    return None


@route("POST", "/wxaapi/broadcast/room/create")
def room_create(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    problem = _check_room(fake, data)
    if problem:
        return problem
    with fake.lock:
        live = _state(fake)
        room_id = live["next_room"]
        live["next_room"] += 1
        live["rooms"][room_id] = {**data, "roomid": room_id, "live_status": 102, "goods": []}
    return 200, {"roomId": room_id, "errcode": 0}


@route("POST", "/wxaapi/broadcast/room/editroom")
def room_edit(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    room = _state(fake)["rooms"].get(int(data.get("id", 0)))
    if room is None:
        return err(300022, "room not found")
    if room["live_status"] != 102:
        return err(300023, "room state does not allow editing")
    problem = _check_room(fake, data)
    if problem:
        return problem
    with fake.lock:
        room.update({k: data[k] for k in _ROOM_FIELDS})
    return ok()


@route("POST", "/wxaapi/broadcast/room/deleteroom")
def room_delete(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    with fake.lock:
        if _state(fake)["rooms"].pop(int(data.get("id", 0)), None) is None:
            return err(300022, "room not found")
    return ok()


@route("POST", "/wxaapi/broadcast/room/addgoods")
def room_add_goods(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    live = _state(fake)
    room = live["rooms"].get(int(data.get("roomId", 0)))
    if room is None:
        return err(300022, "room not found")
    for goods_id in data.get("ids", []):
        goods = live["goods"].get(int(goods_id))
        if goods is None:
            return err(300024, "goods not found")
        if goods["audit_status"] != 2:
            return err(300025, "goods not approved")
    with fake.lock:
        ids = [g for g in data.get("ids", []) if g not in room["goods"]]
        if len(room["goods"]) + len(ids) > 200:
            return err(300033, "room goods limit")
        room["goods"].extend(ids)
    return ok()


@route("GET", "/wxaapi/broadcast/room/getsharedcode")
def room_shared_code(fake: FakeWeChat, query: dict, body: bytes):
    if not fake.check_token(query):
        return err(*TOKEN_ERROR)
    room_id = int(query.get("roomId", 0))
    if room_id not in _state(fake)["rooms"]:
        return err(300022, "room not found")
    page = f"plugin-private://wx2b03c6e691cd7370/pages/live-player-plugin?room_id={room_id}"
    return ok(
        cdnUrl=f"https://res.wx.qq.com/fake-live/{room_id}.jpg",
        pagePath=page,
        posterUrl=f"https://res.wx.qq.com/fake-live/{room_id}-poster.jpg",
    )


@route("POST", "/wxa/business/getliveinfo")
def live_info(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    live = _state(fake)
    start, limit = int(data.get("start", 0)), int(data.get("limit", 0))
    if limit < 1 or limit > 100:
        return err(9410001, "limit must be 1 to 100")
    if data.get("action") == "get_replay":
        room = live["rooms"].get(int(data.get("room_id", 0)))
        if room is None:
            return err(300022, "room not found")
        if room["live_status"] != 103:
            return err(9410000, "no replay")
        replay = [
            {
                "expire_time": "2030-01-01T00:00:00Z",
                "create_time": "2026-01-01T00:00:00Z",
                "media_url": f"https://res.wx.qq.com/fake-replay/{room['roomid']}.m3u8",
            }
        ]
        return ok(live_replay=replay, total=1)
    rooms = sorted(live["rooms"].values(), key=lambda r: -r["roomid"])
    if not rooms:
        return err(9410000, "room list is empty")
    page = rooms[start : start + limit]
    info = [
        {
            "name": r["name"],
            "roomid": r["roomid"],
            "cover_img": "https://res.wx.qq.com/c.jpg",
            "share_img": "https://res.wx.qq.com/s.jpg",
            "live_status": r["live_status"],
            "start_time": int(r["startTime"]),
            "end_time": int(r["endTime"]),
            "anchor_name": r["anchorName"],
            "goods": [{"goods_id": g} for g in r["goods"]],
            "live_type": r["type"],
            "close_like": r["closeLike"],
            "close_goods": r["closeGoods"],
            "close_comment": r["closeComment"],
        }
        for r in page
    ]
    return ok(room_info=info, total=len(rooms))


def _goods_problem(fake: FakeWeChat, info: dict, *, update: bool):
    if not update or "name" in info:
        name = info.get("name", "")
        if not 3 <= len(name) <= 14:
            return err(300002, "name length invalid")
    if not update:
        if info.get("coverImgUrl") not in _state(fake)["media"]:
            return err(300006, "media_id invalid")
        if not info.get("url"):
            return err(300007, "url missing")
    price_type = int(info.get("priceType", 1))
    if price_type not in (1, 2, 3):
        return err(300003, "priceType invalid")
    price = info.get("price")
    if not isinstance(price, (int, float)) or price <= 0 or round(price, 2) != price:
        return err(300003, "price invalid")
    if price_type == 2 and not (isinstance(info.get("price2"), (int, float)) and info["price2"] > price):
        return err(300003, "price2 must be above price")
    if price_type == 3 and not (isinstance(info.get("price2"), (int, float)) and info["price2"] < price):
        return err(300003, "discounted price must be below the original")
    return None


@route("POST", "/wxaapi/broadcast/goods/add")
def goods_add(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    info = data.get("goodsInfo") or {}
    problem = _goods_problem(fake, info, update=False)
    if problem:
        return problem
    with fake.lock:
        live = _state(fake)
        goods_id = live["next_goods"]
        live["next_goods"] += 1
        audit_id = 500000 + goods_id
        live["goods"][goods_id] = {**info, "goods_id": goods_id, "audit_id": audit_id, "audit_status": 1}
    return 200, {"goodsId": goods_id, "auditId": audit_id, "errcode": 0}


def _goods(fake: FakeWeChat, data: dict):
    goods = _state(fake)["goods"].get(int(data.get("goodsId", 0) or 0))
    return goods, (None if goods else err(300024, "goods not found"))


@route("POST", "/wxaapi/broadcast/goods/resetaudit")
def goods_reset_audit(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    goods, problem = _goods(fake, data)
    if problem:
        return problem
    if goods["audit_status"] != 1 or int(data.get("auditId", 0)) != goods["audit_id"]:
        return err(300009, "audit withdraw failed")
    with fake.lock:
        goods["audit_status"] = 0
    return ok()


@route("POST", "/wxaapi/broadcast/goods/audit")
def goods_audit(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    goods, problem = _goods(fake, data)
    if problem:
        return problem
    if goods["audit_status"] == 1:
        return err(300010, "goods in review")
    with fake.lock:
        goods["audit_id"] += 1
        goods["audit_status"] = 1
    return 200, {"auditId": goods["audit_id"], "errcode": 0}


@route("POST", "/wxaapi/broadcast/goods/delete")
def goods_delete(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    goods, problem = _goods(fake, data)
    if problem:
        return problem
    if goods["audit_status"] == 1:
        return err(300014, "goods in review cannot be deleted")
    with fake.lock:
        _state(fake)["goods"].pop(goods["goods_id"], None)
    return ok()


@route("POST", "/wxaapi/broadcast/goods/update")
def goods_update(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    info = data.get("goodsInfo") or {}
    goods, problem = _goods(fake, info)
    if problem:
        return problem
    if goods["audit_status"] == 1:
        return err(300010, "goods in review")
    problem = _goods_problem(fake, {**goods, **info}, update=True)
    if problem:
        return problem
    with fake.lock:
        goods.update({k: v for k, v in info.items() if k != "goodsId"})
        if goods["audit_status"] == 2 and ({"name", "coverImgUrl"} & set(info)):
            goods["audit_status"] = 0  # name or image changed: audit again
    return ok()


@route("POST", "/wxa/business/getgoodswarehouse")
def goods_warehouse(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    ids = data.get("goods_ids") or []
    if not ids or len(ids) > 20:
        return err(300024, "goods_ids must hold 1 to 20 ids")
    goods = [_state(fake)["goods"].get(int(g)) for g in ids]
    found = [
        {
            "goods_id": g["goods_id"],
            "cover_img_url": "https://res.wx.qq.com/g.jpg",
            "name": g["name"],
            "price": g["price"],
            "url": g["url"],
            "price_type": g.get("priceType", 1),
            "price2": g.get("price2", 0),
            "audit_status": g["audit_status"],
            "third_party_tag": 2,
        }
        for g in goods
        if g is not None
    ]
    return ok(goods=found, total=len(found))


@route("POST", "/wxa/business/get_wxa_followers")
def followers(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    limit = int(data.get("limit", 200))
    if not 1 <= limit <= 2000:
        return err(9410004, "limit must be 1 to 2000")
    start = int(data.get("page_break", 0) or 0)
    everyone = _state(fake)["followers"]
    page = everyone[start : start + limit]
    next_break = start + len(page) if start + len(page) < len(everyone) else 0
    return ok(followers=page, page_break=next_break)


@route("POST", "/wxa/business/push_message")
def push_message(fake: FakeWeChat, query: dict, body: bytes):
    data, error = _json(fake, query, body)
    if error:
        return error
    live = _state(fake)
    room = live["rooms"].get(int(data.get("room_id", 0)))
    if room is None:
        return err(300022, "room not found")
    if room["live_status"] != 101:
        return err(9410006, "room is not live")
    today = time.strftime("%Y%m%d")
    with fake.lock:
        if (room["roomid"], today) in live["pushed"]:
            return err(9410005, "already pushed today")
        live["pushed"].add((room["roomid"], today))
    return ok(message_id=secrets.randbelow(10**9))
