from rest_framework import serializers


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


class LiveMetricsOut(serializers.Serializer):
    """livestream.metrics.LiveMetrics.as_dict(): every formula is in that module."""

    rooms = serializers.IntegerField()
    unique_viewers = serializers.IntegerField()
    member_viewers = serializers.IntegerField()
    non_member_viewers = serializers.IntegerField()
    peak_concurrent = serializers.IntegerField()
    watch_seconds_total = serializers.IntegerField()
    likers = serializers.IntegerField()
    interactors = serializers.IntegerField()
    new_members = serializers.IntegerField()
    orders_during_show = serializers.IntegerField()
    gmv_during_show_fen = serializers.IntegerField()
    orders_post_show = serializers.IntegerField()
    gmv_post_show_fen = serializers.IntegerField()
    lapsed_member_viewers = serializers.IntegerField()
    reactivated_members = serializers.IntegerField()
    viewer_shows = serializers.IntegerField()
    room_ids = serializers.ListField(child=serializers.IntegerField())
    average_watch_seconds = serializers.IntegerField()
    like_rate = serializers.FloatField()
    interaction_rate = serializers.FloatField()
    reactivation_rate = serializers.FloatField()


class LiveCountersOut(serializers.Serializer):
    viewers = serializers.IntegerField()
    concurrent = serializers.IntegerField()
    peak_concurrent = serializers.IntegerField()
    events = serializers.IntegerField()
    likes = serializers.IntegerField()
    comments = serializers.IntegerField()
    shares = serializers.IntegerField()
    product_clicks = serializers.IntegerField()
    cart_adds = serializers.IntegerField()


class RoomMetricsOut(LiveMetricsOut):
    live = LiveCountersOut(required=False, help_text="While the show runs: the live figures.")


class ShareCodeOut(serializers.Serializer):
    cdn_url = serializers.CharField()
    page_path = serializers.CharField()
    poster_url = serializers.CharField()


class FollowersPushedOut(serializers.Serializer):
    pushed = serializers.IntegerField()
    message_ids = serializers.ListField(child=serializers.JSONField())


class LiveSettingsOut(serializers.Serializer):
    store_managers_may_create_rooms = serializers.BooleanField()
    reactivation_lookback_days = serializers.IntegerField()
    external_end_grace_minutes = serializers.IntegerField()


class RoomGoodsOut(serializers.Serializer):
    room_id = serializers.IntegerField()
    goods_ids = serializers.ListField(child=serializers.IntegerField())
