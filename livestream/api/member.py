"""Mini-program API for live rooms: upcoming and live rooms of the brand and of the member's store (a session
without membership sees the brand's rooms), and the audience events of a room."""

from __future__ import annotations

import contextlib

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.openapi import error
from core.pagination import paginated_rows
from livestream import selectors
from livestream.api.outputs import ROOM_VALUES, RoomOut, room_row_out
from members.api.base import MemberAPIView


class MemberRoomListApi(MemberAPIView):
    """GET /api/v1/mp/live/rooms — upcoming and live rooms the member may watch, soonest first (cursor pages on
    (start_at, id))."""

    @extend_schema(responses=RoomOut(many=True))
    def get(self, request):
        rooms = selectors.rooms_for_session(request.user.openid).values(*ROOM_VALUES)
        return paginated_rows(self, rooms, room_row_out, ordering=("start_at", "id"))


class MemberRoomDetailApi(MemberAPIView):
    @extend_schema(responses=RoomOut)
    def get(self, request, room_id: int):
        return Response(RoomOut(selectors.room_get_for_member(request.user.member(), room_id)).data)


class RoomEventsApi(MemberAPIView):
    """POST /api/v1/mp/live/rooms/<id>/events — the hot path of a show, from members and not-yet-members:

        {"events": [{"type": "heartbeat"}, {"type": "like", "count": 12}, {"type": "comment"},
                    {"type": "product_click", "goods_id": 3}],
         "share": {"guide_id": 7, "member_id": null}}

    202 {"accepted": 3, "concurrent": 1812}. One Redis round trip (livestream.services.audience); no database
    write. 400/413 bad batch, 404 unknown room, 409 room closed, 429 too many events from this viewer (the
    `fields.retry_after` seconds), 503 busy (send again)."""

    class EventBatchBody(serializers.Serializer):
        """Documents the body only: it is checked in livestream.services.audience without DRF (the hot path)."""

        class Event(serializers.Serializer):
            type = serializers.ChoiceField(
                choices=["enter", "heartbeat", "leave", "like", "comment", "share", "product_click", "add_to_cart"]
            )
            count = serializers.IntegerField(min_value=1, required=False, help_text="For `like`.")
            goods_id = serializers.IntegerField(min_value=1, required=False, help_text="For product events.")

        class Share(serializers.Serializer):
            guide_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
            member_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)

        events = Event(many=True, allow_empty=False)
        share = Share(required=False)

    class OutputSerializer(serializers.Serializer):
        accepted = serializers.IntegerField()
        concurrent = serializers.IntegerField()

    @extend_schema(
        request=EventBatchBody,
        responses={
            202: OutputSerializer,
            429: error("Too many events from this viewer; `fields.retry_after` says when to send again."),
            503: error("The room is busy (`live_busy`) or a dependency is down; send again."),
        },
    )
    def post(self, request, room_id: int):
        from livestream.services.audience import events_ingest

        if not room_open_for_events(room_id):
            raise_room_closed(room_id)
        data = request.data if isinstance(request.data, dict) else {}
        result = events_ingest(
            room_id=room_id, openid=request.user.openid, events=data.get("events"), share=data.get("share")
        )
        if result.fold_due:
            fold_soon(room_id)
        return Response({"accepted": result.accepted, "concurrent": result.concurrent}, status=202)


def room_open_for_events(room_id: int) -> bool:
    """Whether the room takes events, cached per process for a few seconds (no query per heartbeat)."""
    import time

    from django.db import connection

    from livestream.models import LiveRoom
    from livestream.services.audience import room_accepts_events

    key = (connection.schema_name, room_id)
    now = time.monotonic()
    hit = _room_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    room = LiveRoom.objects.filter(pk=room_id).only("status", "ended_at").first()
    state = None if room is None else room_accepts_events(room)
    if len(_room_cache) > 10000:
        _room_cache.clear()
    _room_cache[key] = (now + ROOM_CACHE_SECONDS, state)
    return state


def raise_room_closed(room_id: int):
    from core.errors import Conflict, NotFound

    if room_open_for_events(room_id) is None:
        raise NotFound(_("No such live room."))
    raise Conflict(_("This show is over."), code="live_room_closed")


def fold_soon(room_id: int) -> None:
    from livestream.tasks import fold_room

    # Broker down: the flag expires and a later request (or the periodic sync) folds.
    with contextlib.suppress(Exception):
        fold_room.apply_async(args=[room_id], countdown=FOLD_DELAY_SECONDS, retry=False)


ROOM_CACHE_SECONDS = 5.0
FOLD_DELAY_SECONDS = 3
_room_cache: dict[tuple[str, int], tuple[float, bool | None]] = {}
