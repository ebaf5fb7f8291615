from django.urls import path, re_path

from livestream.api import member, staff

urlpatterns = [
    # mini-program
    path("mp/live/rooms", member.MemberRoomListApi.as_view()),
    path("mp/live/rooms/<int:room_id>", member.MemberRoomDetailApi.as_view()),
    path("mp/live/rooms/<int:room_id>/events", member.RoomEventsApi.as_view()),
    # brand console (HQ and store managers)
    path("console/live/rooms", staff.RoomListCreateApi.as_view()),
    path("console/live/rooms/<int:room_id>", staff.RoomDetailApi.as_view()),
    path("console/live/rooms/<int:room_id>/publish", staff.RoomPublishApi.as_view()),
    path("console/live/rooms/<int:room_id>/goods", staff.RoomGoodsApi.as_view()),
    path("console/live/rooms/<int:room_id>/share-code", staff.RoomShareCodeApi.as_view()),
    path("console/live/rooms/<int:room_id>/push", staff.RoomPushApi.as_view()),
    path("console/live/rooms/<int:room_id>/end", staff.RoomEndApi.as_view()),
    path("console/live/rooms/<int:room_id>/coupons", staff.RoomCouponsApi.as_view()),
    path("console/live/rooms/<int:room_id>/metrics", staff.RoomMetricsApi.as_view()),
    path("console/live/metrics", staff.PeriodMetricsApi.as_view()),
    path("console/live/goods", staff.GoodsListCreateApi.as_view()),
    path("console/live/goods/<int:goods_id>", staff.GoodsDetailApi.as_view()),
    re_path(r"^console/live/goods/(?P<goods_id>[0-9]+)/(?P<action>audit|reset-audit)$", staff.GoodsAuditApi.as_view()),
    path("console/live/settings", staff.LiveSettingsApi.as_view()),
]
