from rest_framework import serializers

from core.outputs import datetime_text


class RoomOut(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField()
    name = serializers.CharField()
    status = serializers.CharField()
    store_id = serializers.IntegerField(allow_null=True)
    shop_id = serializers.IntegerField(allow_null=True)
    anchor_name = serializers.CharField()
    start_at = serializers.DateTimeField()
    end_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    external_url = serializers.CharField()
    wechat_room_id = serializers.IntegerField(allow_null=True)


ROOM_VALUES = tuple(RoomOut._declared_fields)
_ROOM_DATETIMES = ("start_at", "end_at", "started_at", "ended_at")


def room_row_out(row: dict) -> dict:
    """A `.values(*ROOM_VALUES)` row as RoomOut writes the room (the members' list: no serializer per row)."""
    for key in _ROOM_DATETIMES:
        row[key] = datetime_text(row[key])
    return row


class StaffRoomOut(RoomOut):
    anchor_wechat = serializers.CharField()
    close_like = serializers.BooleanField()
    close_goods = serializers.BooleanField()
    close_comment = serializers.BooleanField()
    min_watch_seconds = serializers.IntegerField()
    coupon_state = serializers.CharField()
    coupons_issued = serializers.IntegerField()
    coupon_template_ids = serializers.SerializerMethodField()
    push_state = serializers.CharField()
    last_error = serializers.CharField()
    replay_urls = serializers.ListField(child=serializers.CharField())

    def get_coupon_template_ids(self, room) -> list[int]:
        return sorted(t.pk for t in room.coupon_templates.all())


class GoodsOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    store_id = serializers.IntegerField(allow_null=True)
    product_id = serializers.IntegerField(allow_null=True)
    price_type = serializers.IntegerField()
    price_fen = serializers.IntegerField()
    price2_fen = serializers.IntegerField()
    url = serializers.CharField()
    wechat_goods_id = serializers.IntegerField(allow_null=True)
    audit_status = serializers.IntegerField()
