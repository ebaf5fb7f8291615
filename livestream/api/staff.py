"""Brand console API for live rooms and goods (HQ and store managers). Every read goes through a selector that
takes `self.scope`: a store manager reaches only their franchisee's rooms and goods (others are 404), and creates
rooms only for their own stores, only when HQ allowed it. Settings are HQ's."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.errors import ApplicationError
from core.fields import BusinessDateTimeField
from core.openapi import error
from core.pagination import paginated_response
from core.views import BrandHQAPIView, BrandStaffAPIView
from livestream import selectors
from livestream.api.outputs import (
    FollowersPushedOut,
    GoodsOut,
    LiveMetricsOut,
    LiveSettingsOut,
    RoomGoodsOut,
    RoomMetricsOut,
    ShareCodeOut,
    StaffRoomOut,
)
from livestream.models import LiveGoods, LiveRoom
from livestream.services import goods as goods_services
from livestream.services import rooms as room_services
from livestream.services.coupons import room_coupons_set
from livestream.services.sync import room_end_external
from members.selectors import store_get_for_scope
from miniprograms.models import Product, Shop

WECHAT = error("WeChat refused or did not answer (the WeChat error is in `error.code`).")


def _room_out(room: LiveRoom) -> dict:
    return StaffRoomOut(LiveRoom.objects.prefetch_related("coupon_templates").get(pk=room.pk)).data


class RoomListCreateApi(BrandStaffAPIView):
    """GET /api/v1/console/live/rooms; POST creates a room (WeChat live: three base64 images; external: a link).
    A WeChat refusal leaves the room a draft and answers the mapped error (300036: `fields.qrcode_url` is the QR
    code the anchor scans to verify, `fields.room_id` the draft to publish again)."""

    class InputSerializer(serializers.Serializer):
        source = serializers.ChoiceField(choices=LiveRoom.Source.choices)
        name = serializers.CharField(min_length=3, max_length=34)
        store_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        shop_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        start_at = BusinessDateTimeField()
        end_at = BusinessDateTimeField()
        anchor_name = serializers.CharField(max_length=30, required=False, default="")
        anchor_wechat = serializers.CharField(max_length=64, required=False, default="")
        room_type = serializers.ChoiceField(choices=[0, 1], required=False, default=0)
        close_like = serializers.BooleanField(required=False, default=False)
        close_goods = serializers.BooleanField(required=False, default=False)
        close_comment = serializers.BooleanField(required=False, default=False)
        external_url = serializers.URLField(max_length=500, required=False, default="")
        min_watch_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False, default=60)
        cover_image = serializers.CharField(required=False, max_length=3_000_000)
        share_image = serializers.CharField(required=False, max_length=3_000_000)
        feeds_image = serializers.CharField(required=False, max_length=3_000_000)

    @extend_schema(responses=StaffRoomOut(many=True))
    def get(self, request):
        return paginated_response(
            self, selectors.rooms_for_scope(self.scope).prefetch_related("coupon_templates"), StaffRoomOut
        )

    @extend_schema(
        responses={
            201: StaffRoomOut,
            502: error("WeChat refused or did not answer; the room stays a draft (`fields.room_id`)."),
        }
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        store_id = values.pop("store_id", None)
        store = store_get_for_scope(self.scope, store_id) if store_id else None
        shop_id = values.pop("shop_id", None)
        shop = None
        if shop_id:
            shop = Shop.objects.filter(pk=shop_id).first()
            if shop is None or (not self.scope.is_hq and shop.store.franchisee_id != self.scope.franchisee_id):
                raise ApplicationError(_("No such shop."), code="not_found", status_code=404)
        images = {
            k: room_services.decode_image(values.pop(f"{k}_image"), f"{k}_image")
            for k in ("cover", "share", "feeds")
            if values.get(f"{k}_image")
        }
        for k in ("cover", "share", "feeds"):
            values.pop(f"{k}_image", None)
        room = room_services.room_create(scope=self.scope, store=store, shop=shop, images=images, **values)
        return Response(_room_out(room), status=status.HTTP_201_CREATED)


class RoomDetailApi(BrandStaffAPIView):
    class PatchSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=3, max_length=34, required=False)
        start_at = BusinessDateTimeField(required=False)
        end_at = BusinessDateTimeField(required=False)
        anchor_name = serializers.CharField(max_length=30, required=False)
        anchor_wechat = serializers.CharField(max_length=64, required=False)
        close_like = serializers.BooleanField(required=False)
        close_goods = serializers.BooleanField(required=False)
        close_comment = serializers.BooleanField(required=False)
        external_url = serializers.URLField(max_length=500, required=False)
        min_watch_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False)

    @extend_schema(responses=StaffRoomOut)
    def get(self, request, room_id: int):
        return Response(_room_out(selectors.room_get_for_scope(self.scope, room_id)))

    @extend_schema(responses={200: StaffRoomOut, 502: WECHAT})
    def patch(self, request, room_id: int):
        room = selectors.room_get_for_scope(self.scope, room_id)
        data = self.PatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(_room_out(room_services.room_update(room=room, **data.validated_data)))

    @extend_schema(responses={204: None, 502: WECHAT})
    def delete(self, request, room_id: int):
        room_services.room_delete(room=selectors.room_get_for_scope(self.scope, room_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RoomPublishApi(BrandStaffAPIView):
    """POST .../rooms/<id>/publish: create a draft room at WeChat again (after the anchor verified)."""

    @extend_schema(request=None, responses={200: StaffRoomOut, 502: WECHAT})
    def post(self, request, room_id: int):
        room = selectors.room_get_for_scope(self.scope, room_id)
        return Response(_room_out(room_services.room_publish(room=room)))


class RoomGoodsApi(BrandStaffAPIView):
    class InputSerializer(serializers.Serializer):
        goods_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=200)

    @extend_schema(responses={200: RoomGoodsOut, 502: WECHAT})
    def post(self, request, room_id: int):
        room = selectors.room_get_for_scope(self.scope, room_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        goods = [selectors.goods_get_for_scope(self.scope, g) for g in data.validated_data["goods_ids"]]
        room_services.room_goods_add(room=room, goods=goods)
        return Response({"room_id": room.pk, "goods_ids": sorted(room.goods.values_list("pk", flat=True))})


class RoomShareCodeApi(BrandStaffAPIView):
    @extend_schema(responses={200: ShareCodeOut, 502: WECHAT})
    def get(self, request, room_id: int):
        return Response(room_services.room_share_code(room=selectors.room_get_for_scope(self.scope, room_id)))


class RoomPushApi(BrandStaffAPIView):
    """POST .../rooms/<id>/push: tell the followers the show started (once a day, only while live)."""

    @extend_schema(request=None, responses={200: FollowersPushedOut, 502: WECHAT})
    def post(self, request, room_id: int):
        return Response(room_services.room_push_followers(room=selectors.room_get_for_scope(self.scope, room_id)))


class RoomEndApi(BrandStaffAPIView):
    """POST .../rooms/<id>/end: end an external show now."""

    @extend_schema(request=None, responses=StaffRoomOut)
    def post(self, request, room_id: int):
        return Response(_room_out(room_end_external(room=selectors.room_get_for_scope(self.scope, room_id))))


class RoomCouponsApi(BrandStaffAPIView):
    """PUT .../rooms/<id>/coupons {template_ids, min_watch_seconds?}: the post-show coupons (before it ends)."""

    class InputSerializer(serializers.Serializer):
        template_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), max_length=10)
        min_watch_seconds = serializers.IntegerField(min_value=0, max_value=86400, required=False)

    @extend_schema(responses=StaffRoomOut)
    def put(self, request, room_id: int):
        room = selectors.room_get_for_scope(self.scope, room_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(_room_out(room_coupons_set(room=room, **data.validated_data)))


class GoodsListCreateApi(BrandStaffAPIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=3, max_length=14)
        price_type = serializers.ChoiceField(choices=LiveGoods.PriceType.values, required=False, default=1)
        price_fen = serializers.IntegerField(min_value=1, max_value=10**9)
        price2_fen = serializers.IntegerField(min_value=0, max_value=10**9, required=False, default=0)
        url = serializers.CharField(max_length=300)
        cover_image = serializers.CharField(max_length=3_000_000)
        store_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        product_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    @extend_schema(responses=GoodsOut(many=True))
    def get(self, request):
        return paginated_response(self, selectors.goods_for_scope(self.scope), GoodsOut)

    @extend_schema(responses={201: GoodsOut, 502: WECHAT})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        store_id = values.pop("store_id", None)
        store = store_get_for_scope(self.scope, store_id) if store_id else None
        if store is None and not self.scope.is_hq:
            raise ApplicationError(_("Name one of your stores."), fields={"store_id": ["required"]})
        product_id = values.pop("product_id", None)
        product = Product.objects.filter(pk=product_id).first() if product_id else None
        if product_id and product is None:
            raise ApplicationError(_("No such product."), code="not_found", status_code=404)
        cover = room_services.decode_image(values.pop("cover_image"), "cover_image")
        goods = goods_services.goods_add(store=store, product=product, cover_image=cover, **values)
        return Response(GoodsOut(goods).data, status=status.HTTP_201_CREATED)


class GoodsDetailApi(BrandStaffAPIView):
    class PatchSerializer(serializers.Serializer):
        name = serializers.CharField(min_length=3, max_length=14, required=False)
        price_type = serializers.ChoiceField(choices=LiveGoods.PriceType.values, required=False)
        price_fen = serializers.IntegerField(min_value=1, max_value=10**9, required=False)
        price2_fen = serializers.IntegerField(min_value=0, max_value=10**9, required=False)
        url = serializers.CharField(max_length=300, required=False)

    @extend_schema(responses=GoodsOut)
    def get(self, request, goods_id: int):
        return Response(GoodsOut(selectors.goods_get_for_scope(self.scope, goods_id)).data)

    @extend_schema(responses={200: GoodsOut, 502: WECHAT})
    def patch(self, request, goods_id: int):
        goods = selectors.goods_get_for_scope(self.scope, goods_id)
        data = self.PatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(GoodsOut(goods_services.goods_update(goods=goods, **data.validated_data)).data)

    @extend_schema(responses={204: None, 502: WECHAT})
    def delete(self, request, goods_id: int):
        goods_services.goods_delete(goods=selectors.goods_get_for_scope(self.scope, goods_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class GoodsAuditApi(BrandStaffAPIView):
    """POST .../goods/<id>/audit (submit again) or .../goods/<id>/reset-audit (withdraw)."""

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("action", str, OpenApiParameter.PATH, enum=["audit", "reset-audit"])],
        responses={200: GoodsOut, 502: WECHAT},
    )
    def post(self, request, goods_id: int, action: str):
        goods = selectors.goods_get_for_scope(self.scope, goods_id)
        if action == "audit":
            goods = goods_services.goods_audit(goods=goods)
        else:
            goods = goods_services.goods_reset_audit(goods=goods)
        return Response(GoodsOut(goods).data)


class LiveSettingsApi(BrandHQAPIView):
    class PatchSerializer(serializers.Serializer):
        store_managers_may_create_rooms = serializers.BooleanField(required=False)
        reactivation_lookback_days = serializers.IntegerField(min_value=1, max_value=3650, required=False)
        external_end_grace_minutes = serializers.IntegerField(min_value=0, max_value=1440, required=False)

    def _out(self, row) -> dict:
        return {k: getattr(row, k) for k in self.PatchSerializer().fields}

    @extend_schema(responses=LiveSettingsOut)
    def get(self, request):
        return Response(self._out(selectors.live_settings()))

    @extend_schema(responses=LiveSettingsOut)
    def patch(self, request):
        from livestream.services.settings import live_settings_update

        data = self.PatchSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return Response(self._out(live_settings_update(**data.validated_data)))


class RoomMetricsApi(BrandStaffAPIView):
    """GET .../rooms/<id>/metrics: the show's metrics (livestream.metrics) and, while it runs, the live figures."""

    @extend_schema(responses=RoomMetricsOut)
    def get(self, request, room_id: int):
        from livestream.metrics import room_metrics
        from livestream.services.audience import room_live_counters

        room = selectors.room_get_for_scope(self.scope, room_id)
        body = room_metrics(room).as_dict()
        if room.is_active:
            body["live"] = room_live_counters(room.pk)
        return Response(body)


class PeriodMetricsApi(BrandStaffAPIView):
    """GET /api/v1/console/live/metrics?date_from=2026-11-01&date_to=2026-11-30[&store_id=|&brand_rooms_only=true]:
    the shows that started in the range (Asia/Shanghai dates), scoped like every staff list."""

    class FilterSerializer(serializers.Serializer):
        date_from = serializers.DateField()
        date_to = serializers.DateField()
        store_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        brand_rooms_only = serializers.BooleanField(required=False, default=False)

        def validate(self, attrs):
            if attrs["date_to"] < attrs["date_from"]:
                raise serializers.ValidationError({"date_to": ["before date_from"]})
            if (attrs["date_to"] - attrs["date_from"]).days > 366:
                raise serializers.ValidationError({"date_to": ["at most a year after date_from"]})
            return attrs

    @extend_schema(responses=LiveMetricsOut)
    def get(self, request):
        from livestream.metrics import period_metrics

        data = self.FilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if values.get("store_id"):
            store_get_for_scope(self.scope, values["store_id"])  # another franchisee's store is a 404
        return Response(period_metrics(scope=self.scope, **values).as_dict())
