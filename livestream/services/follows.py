"""Followers of the brand's WeChat live rooms, from the wxalive_follow_notify event (callback pipeline)."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction

from livestream.models import LiveFollow, LiveRoom


def follow_record(
    *, wechat_room_id: int, openid: str, action: str, at: dt.datetime, live_status: int | None = None
) -> tuple[LiveFollow, bool]:
    """Store one follow or unfollow. The same (room, openid, action, time) delivered again returns the first row
    (a unique constraint decides, also under concurrent deliveries). Returns (row, created)."""
    room = LiveRoom.objects.filter(wechat_room_id=wechat_room_id).first()
    try:
        with transaction.atomic():
            return LiveFollow.objects.create(
                room=room,
                wechat_room_id=wechat_room_id,
                openid=openid,
                action=action,
                followed_at=at,
                live_status=live_status,
            ), True
    except IntegrityError:
        return LiveFollow.objects.get(
            wechat_room_id=wechat_room_id, openid=openid, action=action, followed_at=at
        ), False


def follow_from_payload(payload: dict) -> tuple[LiveFollow, bool]:
    """The event's <FollowNotify> block (room_id, user_openid, time, live_status, action)."""
    from callbacks.registry import PermanentFailure

    block = payload.get("FollowNotify") or payload
    try:
        room_id = int(block["room_id"])
        openid = str(block.get("user_openid") or payload.get("FromUserName") or "").strip()
        at = dt.datetime.fromtimestamp(int(block.get("time") or payload["CreateTime"]), tz=dt.UTC)
        action = str(block.get("action", "add_follow")).strip()[:16]
        live_status = int(block["live_status"]) if block.get("live_status") else None
    except (KeyError, TypeError, ValueError) as exc:
        raise PermanentFailure(f"malformed wxalive_follow_notify: {exc}") from exc
    if not openid:
        raise PermanentFailure("wxalive_follow_notify without an openid")
    return follow_record(wechat_room_id=room_id, openid=openid, action=action, at=at, live_status=live_status)
