"""Mini-program API (members): browse shops and catalogs, place, pay, cancel and refund orders, coupons, guide
touches. Browsing needs a session; ordering needs a registered member. A member only ever reaches their own
orders and coupons (another member's id is a 404)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.client_ip import client_ip as request_client_ip
from core.openapi import error
from core.pagination import paginated_response
from core.serializer_reuse import represent, validated
from members.api.base import MemberAPIView
from miniprograms import selectors
from miniprograms.api.outputs import CatalogItemOut, CouponOut, OrderOut, ShopOut, catalog_item_out
from miniprograms.models import Order
from miniprograms.services.coupons import coupon_claim
from miniprograms.services.guides import guide_touch_record
from miniprograms.services.orders import order_cancel, order_place
from miniprograms.services.payments import order_prepay
from miniprograms.services.refunds import refund_request


class ShopListApi(MemberAPIView):
    """GET /api/v1/mp/shops?city=&store_code="""

    class FilterSerializer(serializers.Serializer):
        city = serializers.CharField(max_length=50, required=False, default="", allow_blank=True)
        store_code = serializers.CharField(max_length=32, required=False, default="", allow_blank=True)

    @extend_schema(responses=ShopOut(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        return self.paginated(
            selectors.shops_browse(**filters.validated_data), ShopOut, ordering=("store_code_order", "id")
        )


class ShopCatalogApi(MemberAPIView):
    """GET /api/v1/mp/shops/<id>/catalog: the shop's SKUs at its prices, with stock."""

    class OutputSerializer(serializers.Serializer):
        shop = ShopOut()
        results = CatalogItemOut(many=True)

    @extend_schema(responses=OutputSerializer)
    def get(self, request, shop_id: int):
        shop = selectors.shop_get_open(shop_id)
        items = [catalog_item_out(row) for row in selectors.shop_catalog_rows(shop=shop)]
        return Response({"shop": ShopOut(shop).data, "results": items})


class OrderListCreateApi(MemberAPIView):
    """GET /api/v1/mp/orders (own orders, newest first); POST places an order."""

    class InputSerializer(serializers.Serializer):
        class Item(serializers.Serializer):
            sku_id = serializers.IntegerField(min_value=1)
            quantity = serializers.IntegerField(min_value=1, max_value=99)

        shop_id = serializers.IntegerField(min_value=1)
        items = Item(many=True, allow_empty=False, max_length=50)
        coupon_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        fulfilment = serializers.ChoiceField(
            choices=[Order.Fulfilment.PICKUP, Order.Fulfilment.DELIVERY], default=Order.Fulfilment.PICKUP
        )
        delivery_address = serializers.DictField(required=False, default=dict)

    @extend_schema(responses=OrderOut(many=True))
    def get(self, request):
        member = self.member_or_404()
        return paginated_response(self, selectors.orders_for_member(member), OrderOut)

    @extend_schema(responses={201: OrderOut})
    def post(self, request):
        member = self.member_or_404()
        values = dict(validated(self.InputSerializer, request.data))  # one shared instance (core.serializer_reuse)
        shop = selectors.shop_get_open(values.pop("shop_id"))
        order = order_place(member=member, shop=shop, appid=request.user.appid, **values)  # with its lines and event
        return Response(represent(OrderOut, [order])[0], status=status.HTTP_201_CREATED)


class OrderDetailApi(MemberAPIView):
    @extend_schema(responses=OrderOut)
    def get(self, request, order_id: int):
        order = selectors.order_get_for_member(self.member_or_404(), order_id)
        return Response(represent(OrderOut, [order])[0])


class OrderPayApi(MemberAPIView):
    """POST /api/v1/mp/orders/<id>/pay: the signed parameters for wx.requestPayment."""

    class OutputSerializer(serializers.Serializer):
        class RequestPayment(serializers.Serializer):
            timeStamp = serializers.CharField()
            nonceStr = serializers.CharField()
            package = serializers.CharField(help_text="`prepay_id=...`")
            signType = serializers.CharField(help_text="`MD5`, `HMAC-SHA256` (v2) or `RSA` (v3).")
            paySign = serializers.CharField()

        request_payment = RequestPayment(help_text="Pass as is to wx.requestPayment.")

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, 502: error("WeChat Pay did not answer or refused the prepay.")},
    )
    def post(self, request, order_id: int):
        member = self.member_or_404()
        order = selectors.order_get_for_member(member, order_id)
        params = order_prepay(
            member=member, order=order, openid=request.user.openid, client_ip=request_client_ip(request)
        )
        return Response({"request_payment": params})


class OrderCancelApi(MemberAPIView):
    @extend_schema(request=None, responses=OrderOut)
    def post(self, request, order_id: int):
        member = self.member_or_404()
        order_cancel(order_id=selectors.order_get_for_member(member, order_id).pk, reason="by member", member=member)
        return Response(OrderOut(selectors.order_get_for_member(member, order_id)).data)


class OrderRefundRequestApi(MemberAPIView):
    """POST /api/v1/mp/orders/<id>/refund {reason?, lines?: [{line_id, quantity}], amount_fen?, return_goods?}:
    some lines, an amount, or (neither) all that is not refunded yet."""

    class LineInput(serializers.Serializer):
        line_id = serializers.IntegerField()
        quantity = serializers.IntegerField(min_value=1, max_value=999)

    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(max_length=200, required=False, default="")
        lines = serializers.ListField(child=serializers.DictField(), required=False, max_length=50)
        amount_fen = serializers.IntegerField(min_value=1, required=False)
        return_goods = serializers.BooleanField(required=False, default=False)

        def validate_lines(self, value):
            lines = OrderRefundRequestApi.LineInput(data=value, many=True)
            lines.is_valid(raise_exception=True)
            return lines.validated_data

    class OutputSerializer(serializers.Serializer):
        refund_id = serializers.IntegerField()
        status = serializers.CharField()
        amount_fen = serializers.IntegerField()

    @extend_schema(responses={201: OutputSerializer})
    def post(self, request, order_id: int):
        member = self.member_or_404()
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = selectors.order_get_for_member(member, order_id)
        refund = refund_request(member=member, order_id=order.pk, **data.validated_data)
        return Response(
            {"refund_id": refund.pk, "status": refund.status, "amount_fen": refund.amount_fen},
            status=status.HTTP_201_CREATED,
        )


class CouponListApi(MemberAPIView):
    @extend_schema(responses=CouponOut(many=True))
    def get(self, request):
        return self.paginated(selectors.coupons_for_member(self.member_or_404()), CouponOut)


class CouponClaimApi(MemberAPIView):
    @extend_schema(request=None, responses={201: CouponOut})
    def post(self, request, template_id: int):
        coupon = coupon_claim(member=self.member_or_404(), template_id=template_id)
        return Response(CouponOut(coupon).data, status=status.HTTP_201_CREATED)


class GuideTouchApi(MemberAPIView):
    """POST /api/v1/mp/guide-touches {scene}: the member opened the mini-program through a guide's code."""

    class InputSerializer(serializers.Serializer):
        scene = serializers.CharField(max_length=32)

    class OutputSerializer(serializers.Serializer):
        guide_id = serializers.IntegerField(allow_null=True)

    @extend_schema(responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        touch = guide_touch_record(member=self.member_or_404(), **data.validated_data)
        return Response({"guide_id": touch.guide_id}, status=status.HTTP_201_CREATED)
