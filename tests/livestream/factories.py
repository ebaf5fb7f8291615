"""Rooms with an audience, made directly (the audience path itself is tested in test_events)."""

from __future__ import annotations

import datetime as dt
import uuid

from django.utils import timezone

from livestream.models import LiveRoom, LiveRoomStats, LiveViewer
from members.models import Member
from miniprograms.models import CouponTemplate


def coupon_template(name="Post-show 20 off", *, stock=100_000, per_member_limit=1) -> CouponTemplate:
    return CouponTemplate.objects.create(
        name=name,
        kind="amount_off",
        amount_off_fen=2000,
        threshold_fen=10000,
        total_stock=stock,
        per_member_limit=per_member_limit,
        claimable=False,
    )


def ended_room(
    *,
    templates=(),
    ended_ago=dt.timedelta(minutes=5),
    min_watch_seconds=60,
    status="ended",
    coupon_state="issuing",
    **extra,
) -> LiveRoom:
    ended = timezone.now() - ended_ago
    room = LiveRoom.objects.create(
        source="external",
        name="Ended show",
        external_url="https://example.com/live",
        start_at=ended - dt.timedelta(hours=2),
        end_at=ended,
        started_at=ended - dt.timedelta(hours=2),
        ended_at=ended,
        status=status,
        coupon_state=coupon_state,
        min_watch_seconds=min_watch_seconds,
        **extra,
    )
    LiveRoomStats.objects.create(room=room)
    room.coupon_templates.set(templates)
    return room


def viewer(
    room, *, openid: str, watch_seconds: int, member: Member | None = None, was_member: bool | None = None, **extra
) -> LiveViewer:
    seen = room.started_at + dt.timedelta(minutes=1)
    was_member = member is not None if was_member is None else was_member
    return LiveViewer.objects.create(
        room=room,
        openid=openid,
        member=member,
        was_member=was_member,
        first_seen_at=seen,
        last_seen_at=seen + dt.timedelta(seconds=watch_seconds),
        watch_seconds=watch_seconds,
        **extra,
    )


def audience(room, count: int, *, watch_seconds: int = 300) -> list[int]:
    """`count` members who each watched `watch_seconds`; returns their member ids."""
    tag = uuid.uuid4().hex[:8]
    members = Member.objects.bulk_create([Member(openid=f"o-aud-{tag}-{i}") for i in range(count)])
    seen = room.started_at
    LiveViewer.objects.bulk_create(
        [
            LiveViewer(
                room=room,
                openid=m.openid,
                member=m,
                was_member=True,
                first_seen_at=seen,
                last_seen_at=seen,
                watch_seconds=watch_seconds,
            )
            for m in members
        ]
    )
    return [m.pk for m in members]
