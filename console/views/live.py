"""Live rooms: the caller's shows (a store manager's stores' rooms, HQ every room) and one show's metrics, as
livestream.metrics defines them once. Reads through livestream.selectors (scoped)."""

from __future__ import annotations

from console.selectors import keyset_page
from console.views.base import ConsoleView, int_or_none
from livestream.metrics import room_metrics
from livestream.selectors import room_get_for_scope, rooms_for_scope


class LiveRoomListView(ConsoleView):
    def get(self, request):
        rooms, next_before = keyset_page(rooms_for_scope(self.scope), before=int_or_none(request.GET.get("before")))
        return self.page("console/live/list.html", section="live", rooms=rooms, next_before=next_before)


class LiveRoomDetailView(ConsoleView):
    def get(self, request, room_id: int):
        room = room_get_for_scope(self.scope, room_id)
        return self.page("console/live/detail.html", section="live", room=room, metrics=room_metrics(room))
