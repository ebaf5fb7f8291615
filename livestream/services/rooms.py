"""Rooms: create (WeChat live or external), publish to WeChat, edit, delete, add goods, share code, tell the
followers. Database writes are short transactions; WeChat is called outside them (never holding row locks)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from core.permissions import StaffScope
from livestream.models import LiveGoods, LiveRoom, LiveRoomStats
from livestream.selectors import live_settings
from livestream.wechat import (
    ALREADY_PUSHED_TODAY,
    NOT_LIVE,
    LiveWeChatError,
    live_api,
    live_call,
    media_upload,
)
from members.models import Store
from miniprograms.models import Shop

MAX_IMAGE_BYTES = 2 * 1024 * 1024


def decode_image(value: str, field: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApplicationError(_("The image is not base64."), fields={field: ["not base64"]}) from None
    if not raw or len(raw) > MAX_IMAGE_BYTES:
        raise ApplicationError(_("The image must be 1 byte to 2 MB."), fields={field: ["size"]})
    return raw


def _check_may_create(*, scope: StaffScope, store: Store | None) -> None:
    if scope.is_hq:
        return
    if store is None:
        raise ApplicationError(_("Only HQ creates brand rooms."), code="permission_denied", status_code=403)
    if not live_settings().store_managers_may_create_rooms:
        raise ApplicationError(
            _("HQ has not allowed store managers to create rooms."), code="permission_denied", status_code=403
        )
    if store.franchisee_id != scope.franchisee_id:  # the view resolves the store in scope; belt and braces
        raise ApplicationError(_("Not your store."), code="permission_denied", status_code=403)


def room_create(
    *,
    scope: StaffScope,
    source: str,
    name: str,
    start_at: dt.datetime,
    end_at: dt.datetime,
    store: Store | None = None,
    shop: Shop | None = None,
    anchor_name: str = "",
    anchor_wechat: str = "",
    room_type: int = 0,
    close_like: bool = False,
    close_goods: bool = False,
    close_comment: bool = False,
    external_url: str = "",
    min_watch_seconds: int = 60,
    images: dict[str, bytes] | None = None,
) -> LiveRoom:
    """Create a room. An external room is upcoming at once. A WeChat room uploads its three images (cover,
    share, feeds) and is created at WeChat; if WeChat refuses (e.g. 300036 anchor not real-name verified, with the
    QR code to scan in `fields.qrcode_url`), the room stays a draft and the error is raised: retry with
    `room_publish` once the anchor is verified."""
    _check_may_create(scope=scope, store=store)
    if shop is not None and store is not None and shop.store_id != store.pk:
        raise ApplicationError(_("The shop belongs to another store."), fields={"shop_id": ["not this store's"]})
    media = {}
    if source == LiveRoom.Source.WECHAT_LIVE:
        images = images or {}
        missing = [k for k in ("cover", "share", "feeds") if k not in images]
        if missing:
            raise ApplicationError(
                _("A WeChat room needs cover, share and feeds images."),
                fields={f"{k}_image": ["required"] for k in missing},
            )
        if not anchor_name or not anchor_wechat:
            raise ApplicationError(
                _("A WeChat room needs the anchor."),
                fields={"anchor_wechat": ["required"], "anchor_name": ["required"]},
            )
        api = live_api()
        media = {f"{k}_media_id": media_upload(api, images[k], f"{k}.jpg") for k in ("cover", "share", "feeds")}
    with transaction.atomic():
        room = LiveRoom(
            source=source,
            name=name,
            store=store,
            shop=shop,
            anchor_name=anchor_name,
            anchor_wechat=anchor_wechat,
            room_type=room_type,
            close_like=close_like,
            close_goods=close_goods,
            close_comment=close_comment,
            start_at=start_at,
            end_at=end_at,
            external_url=external_url,
            min_watch_seconds=min_watch_seconds,
            created_by_id=scope.user_id,
            status=LiveRoom.Status.UPCOMING if source == LiveRoom.Source.EXTERNAL else LiveRoom.Status.DRAFT,
            **media,
        )
        room.full_clean()
        room.save()
        LiveRoomStats.objects.create(room=room)
    if source == LiveRoom.Source.WECHAT_LIVE:
        room_publish(room=room)
    return room


def _wechat_room(room: LiveRoom) -> dict:
    return {
        "name": room.name,
        "coverImg": room.cover_media_id,
        "startTime": int(room.start_at.timestamp()),
        "endTime": int(room.end_at.timestamp()),
        "anchorName": room.anchor_name,
        "anchorWechat": room.anchor_wechat,
        "shareImg": room.share_media_id,
        "feedsImg": room.feeds_media_id,
        "type": room.room_type,
        "closeLike": int(room.close_like),
        "closeGoods": int(room.close_goods),
        "closeComment": int(room.close_comment),
    }


def _record_error(room: LiveRoom, exc: LiveWeChatError) -> None:
    LiveRoom.objects.filter(pk=room.pk).update(last_error=f"{exc.code}: {exc.message}"[:300], updated_at=timezone.now())


def room_publish(*, room: LiveRoom) -> LiveRoom:
    """Create a draft WeChat room at WeChat (again). Idempotent: a room that has its WeChat id is returned."""
    if room.source != LiveRoom.Source.WECHAT_LIVE or room.wechat_room_id:
        return room
    try:
        result = live_call(live_api().room_create, _wechat_room(room))
    except LiveWeChatError as exc:
        _record_error(room, exc)
        exc.fields = {**exc.fields, "room_id": room.pk}
        raise
    with transaction.atomic():
        room = LiveRoom.objects.select_for_update().get(pk=room.pk)
        if not room.wechat_room_id:
            room.wechat_room_id = int(result["roomId"])
            room.wechat_live_status = 102
            room.status = LiveRoom.Status.UPCOMING
            room.last_error = ""
            room.save(update_fields=["wechat_room_id", "wechat_live_status", "status", "last_error", "updated_at"])
    return room


EDITABLE = {
    "name",
    "start_at",
    "end_at",
    "anchor_name",
    "anchor_wechat",
    "close_like",
    "close_goods",
    "close_comment",
    "external_url",
    "min_watch_seconds",
    "shop",
}


def room_update(*, room: LiveRoom, **changes) -> LiveRoom:
    """Edit a room that has not started (WeChat refuses edits after that: 300023). A WeChat room is edited at
    WeChat first; ekr's row changes only if WeChat accepted."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ApplicationError(
            _("Some fields cannot be edited."),
            code="not_editable",
            fields={k: ["not editable"] for k in sorted(unknown)},
        )
    if room.status not in (LiveRoom.Status.DRAFT, LiveRoom.Status.UPCOMING):
        raise Conflict(_("Only a room that has not started can be edited."), code="live_room_state")
    for key, value in changes.items():
        setattr(room, key, value)
    room.full_clean()
    if room.wechat_room_id:
        live_call(live_api().room_edit, {"id": room.wechat_room_id, **_wechat_room(room)})
    with transaction.atomic():
        room.save(update_fields=sorted(set(changes) | {"updated_at"}))
    return room


def room_delete(*, room: LiveRoom) -> None:
    """Delete a room that has not started (at WeChat too; a room WeChat no longer knows is fine)."""
    if room.status not in (LiveRoom.Status.DRAFT, LiveRoom.Status.UPCOMING):
        raise Conflict(_("Only a room that has not started can be deleted."), code="live_room_state")
    if room.wechat_room_id:
        try:
            live_call(live_api().room_delete, room.wechat_room_id)
        except LiveWeChatError as exc:
            if exc.errcode != 300022:
                raise
    with transaction.atomic():
        LiveRoom.objects.filter(pk=room.pk).delete()


def room_goods_add(*, room: LiveRoom, goods: list[LiveGoods]) -> LiveRoom:
    """Put approved goods in a room (at WeChat for a WeChat room)."""
    if not goods:
        raise ApplicationError(_("Name some goods."), fields={"goods_ids": ["required"]})
    if room.source == LiveRoom.Source.WECHAT_LIVE:
        if not room.wechat_room_id:
            raise Conflict(_("Publish the room to WeChat first."), code="live_room_state")
        not_approved = [g.pk for g in goods if g.audit_status != LiveGoods.Audit.APPROVED or not g.wechat_goods_id]
        if not_approved:
            raise Conflict(
                _("Only approved goods can go in a room."),
                code="live_goods_not_approved",
                fields={"goods_ids": not_approved},
            )
        live_call(live_api().room_add_goods, room.wechat_room_id, [g.wechat_goods_id for g in goods])
    with transaction.atomic():
        room.goods.add(*goods)
    return room


def room_share_code(*, room: LiveRoom) -> dict:
    """The room's share code: {cdn_url, page_path, poster_url} (WeChat room) or the external link."""
    if room.source == LiveRoom.Source.EXTERNAL:
        return {"cdn_url": "", "page_path": room.external_url, "poster_url": ""}
    if not room.wechat_room_id:
        raise Conflict(_("Publish the room to WeChat first."), code="live_room_state")
    result = live_call(live_api().room_shared_code, room.wechat_room_id)
    return {
        "cdn_url": result.get("cdnUrl", ""),
        "page_path": result.get("pagePath", ""),
        "poster_url": result.get("posterUrl", ""),
    }


def room_push_followers(*, room: LiveRoom) -> dict:
    """Tell the mini-program's live followers that the show started. WeChat allows one push a day (9410005) and
    only while live (9410006): those answers are recorded on the room (push_state) and raised, never retried
    blindly. Returns {"pushed": number of followers, "message_ids": [...]}."""
    if room.source != LiveRoom.Source.WECHAT_LIVE or not room.wechat_room_id:
        raise Conflict(_("Only a WeChat room can push to followers."), code="live_room_state")
    api = live_api()
    openids: list[str] = []
    page_break = None
    while True:
        page = live_call(api.followers, 2000, page_break)
        openids += [f["openid"] for f in page.get("followers", []) if f.get("openid")]
        page_break = page.get("page_break")
        if not page_break:
            break
    message_ids = []
    if not openids:
        LiveRoom.objects.filter(pk=room.pk).update(push_state="pushed:0", updated_at=timezone.now())
        return {"pushed": 0, "message_ids": []}
    try:
        for start in range(0, len(openids), 1000):
            result = live_call(api.push_message, room.wechat_room_id, openids[start : start + 1000])
            message_ids.append(result.get("message_id"))
    except LiveWeChatError as exc:
        state = {ALREADY_PUSHED_TODAY: "already_pushed_today", NOT_LIVE: "not_live"}.get(exc.errcode, "failed")
        LiveRoom.objects.filter(pk=room.pk).update(push_state=state, updated_at=timezone.now())
        raise
    LiveRoom.objects.filter(pk=room.pk).update(push_state=f"pushed:{len(openids)}", updated_at=timezone.now())
    return {"pushed": len(openids), "message_ids": message_ids}
