"""The brand's HQ admin for live rooms, goods and settings. Rooms and goods change at WeChat through the console
API (services); here HQ reads them, and edits the settings."""

from django.contrib import admin

from core.admin_sites import ReadOnlyModelAdmin, brand_admin
from livestream.models import (
    LiveFollow,
    LiveGoods,
    LiveJoin,
    LiveOrder,
    LiveRoom,
    LiveSettings,
    LiveViewer,
)


@admin.register(LiveSettings, site=brand_admin)
class LiveSettingsAdmin(admin.ModelAdmin):
    list_display = ["store_managers_may_create_rooms", "reactivation_lookback_days", "external_end_grace_minutes"]


@admin.register(LiveRoom, site=brand_admin)
class LiveRoomAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "source", "status", "store", "start_at", "end_at", "coupon_state", "coupons_issued"]
    list_filter = ["source", "status", "coupon_state"]
    list_select_related = ["store"]
    search_fields = ["name", "anchor_name"]


@admin.register(LiveGoods, site=brand_admin)
class LiveGoodsAdmin(ReadOnlyModelAdmin):
    list_display = ["name", "store", "price_fen", "audit_status", "wechat_goods_id"]
    list_filter = ["audit_status"]
    list_select_related = ["store"]


@admin.register(LiveViewer, site=brand_admin)
class LiveViewerAdmin(ReadOnlyModelAdmin):
    list_display = ["room", "member", "watch_seconds", "likes", "comments", "first_seen_at"]
    list_select_related = ["room"]
    raw_id_fields = ["member"]


@admin.register(LiveFollow, site=brand_admin)
class LiveFollowAdmin(ReadOnlyModelAdmin):
    list_display = ["wechat_room_id", "action", "followed_at"]


@admin.register(LiveOrder, site=brand_admin)
class LiveOrderAdmin(ReadOnlyModelAdmin):
    list_display = ["order", "room", "sharer_guide_id", "sharer_member_id", "created_at"]
    raw_id_fields = ["order"]


@admin.register(LiveJoin, site=brand_admin)
class LiveJoinAdmin(ReadOnlyModelAdmin):
    list_display = ["member", "room", "joined_at"]
    raw_id_fields = ["member"]
