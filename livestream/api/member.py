"""Mini-program API for live rooms: upcoming and live rooms of the brand and of the member's store (a session
without membership sees the brand's rooms), and the audience events of a room."""
from __future__ import annotations

from rest_framework.response import Response

from core.pagination import paginated_response
from livestream import selectors
from livestream.api.outputs import RoomOut
from members.api.base import MemberAPIView


class MemberRoomListApi(MemberAPIView):
    """GET /api/v1/mp/live/rooms"""

    def get(self, request):
        return paginated_response(self, selectors.rooms_for_member(request.user.member()), RoomOut)


class MemberRoomDetailApi(MemberAPIView):
    def get(self, request, room_id: int):
        return Response(RoomOut(selectors.room_get_for_member(request.user.member(), room_id)).data)
