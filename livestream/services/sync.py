"""Status sync. WeChat sends no status callback, so the brand's periodic job polls getliveinfo (pages of at most
100) for its WeChat rooms, and the clock moves external rooms (live at start, ended at end + grace). Goods audit
states are read back in the same run. A room that reaches `ended` gets its end-of-show job (fold the audience,
issue post-show coupons) queued once, after commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.tasks import enqueue
from livestream.models import LiveRoom
from livestream.selectors import live_settings, rooms_to_sync
from livestream.services.goods import goods_sync_audit
from livestream.wechat import (
    GETLIVEINFO_MAX_LIMIT,
    LIVE_STATUS,
    LiveWeChatError,
    live_api,
    live_call,
)
from tenants.wechat import WeChatUnavailable


@dataclass
class SyncResult:
    changed: list[int] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)
    goods_changed: int = 0
    error: str = ""


def room_set_status(
    *,
    room_id: int,
    status: str,
    wechat_status: int | None = None,
    now: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
) -> bool:
    """Move a room to `status` (True if it changed). Reaching `ended` stamps ended_at and queues the end-of-show
    job after commit, once: only the transaction that moves the row to ended queues it."""
    now = now or timezone.now()
    with transaction.atomic():
        room = LiveRoom.objects.select_for_update().filter(pk=room_id).first()
        if room is None or room.status == status or room.status == LiveRoom.Status.ENDED:
            return False
        fields = ["status", "updated_at"]
        room.status = status
        if wechat_status is not None:
            room.wechat_live_status = wechat_status
            fields.append("wechat_live_status")
        if status == LiveRoom.Status.LIVE and room.started_at is None:
            room.started_at = now
            fields.append("started_at")
            if room.source == LiveRoom.Source.WECHAT_LIVE and not room.push_state:
                enqueue("livestream.push_followers", room.pk)  # tell the followers once the show is on
        if status in (LiveRoom.Status.ENDED, LiveRoom.Status.EXPIRED, LiveRoom.Status.BANNED):
            room.ended_at = ended_at or now
            fields.append("ended_at")
        if status == LiveRoom.Status.ENDED:
            room.coupon_state = LiveRoom.CouponState.ISSUING
            fields.append("coupon_state")
            enqueue("livestream.end_of_show", room.pk)
        room.save(update_fields=fields)
    return True


def _sync_wechat_rooms(result: SyncResult) -> None:
    rooms = {
        r.wechat_room_id: r
        for r in rooms_to_sync().filter(source=LiveRoom.Source.WECHAT_LIVE, wechat_room_id__isnull=False)
    }
    if not rooms:
        return
    api = live_api()
    start, seen = 0, {}
    while True:
        page = live_call(api.live_info, start, GETLIVEINFO_MAX_LIMIT)
        infos = page.get("room_info", [])
        for info in infos:
            seen[int(info.get("roomid", 0))] = int(info.get("live_status", 0))
        start += len(infos)
        if not infos or start >= int(page.get("total", 0)) or set(rooms) <= set(seen):
            break
    for wechat_id, room in rooms.items():
        status = LIVE_STATUS.get(seen.get(wechat_id))
        if (
            status
            and status != room.status
            and room_set_status(room_id=room.pk, status=status, wechat_status=seen[wechat_id])
        ):
            result.changed.append(room.pk)
            if status == LiveRoom.Status.ENDED:
                result.ended.append(room.pk)
                _fetch_replays(api, room)


def _fetch_replays(api, room: LiveRoom) -> None:
    try:
        replays = live_call(api.replays, room.wechat_room_id)
    except (LiveWeChatError, WeChatUnavailable):
        return  # replays are a nicety; the next edit or a person can fetch them
    urls = [r.get("media_url") for r in replays.get("live_replay", []) if r.get("media_url")]
    if urls:
        LiveRoom.objects.filter(pk=room.pk).update(replay_urls=urls)


def _sync_external_rooms(result: SyncResult, now: dt.datetime) -> None:
    grace = dt.timedelta(minutes=live_settings().external_end_grace_minutes)
    for room in rooms_to_sync().filter(source=LiveRoom.Source.EXTERNAL):
        status = None
        if now >= room.end_at + grace:
            status = LiveRoom.Status.ENDED
        elif now >= room.start_at and room.status == LiveRoom.Status.UPCOMING:
            status = LiveRoom.Status.LIVE
        ended_at = room.end_at if status == LiveRoom.Status.ENDED else None  # the show ended as planned
        if status and room_set_status(room_id=room.pk, status=status, now=now, ended_at=ended_at):
            result.changed.append(room.pk)
            if status == LiveRoom.Status.ENDED:
                result.ended.append(room.pk)


def rooms_sync(*, now: dt.datetime | None = None) -> SyncResult:
    """The periodic job for one brand: a no-op (no WeChat call) when it has no active room and no goods in
    review. WeChat failures are recorded in the result and left for the next run."""
    from livestream.services.audience import room_fold

    now = now or timezone.now()
    result = SyncResult()
    for room_id in rooms_to_sync().values_list("pk", flat=True):
        room_fold(room_id=room_id)  # the safety net: a fold whose task was lost happens here
    _sync_external_rooms(result, now)
    _resume_stalled_coupons()
    try:
        _sync_wechat_rooms(result)
        result.goods_changed = goods_sync_audit()
    except (LiveWeChatError, WeChatUnavailable) as exc:
        result.error = f"{exc.code}: {exc.message}"
    return result


def _resume_stalled_coupons() -> None:
    from livestream.services.coupons import rooms_with_stalled_coupons

    for room_id in rooms_with_stalled_coupons():
        enqueue("livestream.end_of_show", room_id)


def room_end_external(*, room: LiveRoom) -> LiveRoom:
    """Staff end an external show now (no need to wait for the clock)."""
    from core.errors import Conflict

    if room.source != LiveRoom.Source.EXTERNAL:
        raise Conflict(_("A WeChat room ends at WeChat; its status is synced."), code="live_room_state")
    room_set_status(room_id=room.pk, status=LiveRoom.Status.ENDED)
    room.refresh_from_db()
    return room
