"""Brand console API (HQ and store managers). Every read goes through a selector that takes `self.scope`: a store
manager reaches only their franchisee's stores, shops, orders, refunds and guides (others are 404). Catalog,
pushes and coupon templates are HQ's. Lists are cursor pages (core.pagination); a row outside the caller's reach
is a 404 through core.selectors.get_in_scope; answers go through Output serializers."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.openapi import error
from core.selectors import get_in_scope
from core.views import BrandHQAPIView, BrandStaffAPIView
from members.models import Member
from miniprograms import selectors
from miniprograms.api.outputs import (
    CouponOut,
    CouponTemplateCreatedOut,
    RefundAbnormalOut,
    RefundDecisionOut,
    ShopOut,
    ShopPushOut,
    ShopSkuOut,
    StaffOrderOut,
)
from miniprograms.models import Category, CouponTemplate, Order, Product, ShopPush, Sku
from miniprograms.services.catalog import product_create, product_push_to_shops, shop_create, shop_sku_set, shop_update
from miniprograms.services.coupons import coupon_grant, coupon_template_create
from miniprograms.services.guides import guide_share_code_create
from miniprograms.services.orders import order_fulfilment_advance
from miniprograms.services.pushes import shop_push_start
from miniprograms.services.refunds import (
    AbnormalResolution,
    refund_abnormal_resolve,
    refund_approve,
    refund_goods_received,
    refund_reject,
)


class ShopListCreateApi(BrandStaffAPIView):
    class InputSerializer(serializers.Serializer):
        store_id = serializers.IntegerField(min_value=1)
        name = serializers.CharField(max_length=100)
        theme = serializers.CharField(max_length=50, required=False, default="")
        is_open = serializers.BooleanField(required=False, default=True)

    @extend_schema(responses=ShopOut(many=True))
    def get(self, request):
        return self.paginated(selectors.shops_for_scope(self.scope), ShopOut)

    @extend_schema(responses={201: ShopOut})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        store = selectors.store_get_for_scope(self.scope, values.pop("store_id"))
        return Response(ShopOut(shop_create(store=store, **values)).data, status=status.HTTP_201_CREATED)


class ShopUpdateApi(BrandStaffAPIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False)
        theme = serializers.CharField(max_length=50, required=False)
        is_open = serializers.BooleanField(required=False)

    @extend_schema(responses=ShopOut)
    def patch(self, request, shop_id: int):
        shop = selectors.shop_get_for_scope(self.scope, shop_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(ShopOut(shop_update(shop=shop, **data.validated_data)).data)


class ShopSkuSetApi(BrandStaffAPIView):
    """PUT /api/v1/console/shops/<shop>/skus/<sku>: price override (null: list price), stock, on sale."""

    class InputSerializer(serializers.Serializer):
        price_fen = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        stock = serializers.IntegerField(min_value=0, required=False)
        on_sale = serializers.BooleanField(required=False)

    @extend_schema(responses=ShopSkuOut)
    def put(self, request, shop_id: int, sku_id: int):
        shop = selectors.shop_get_for_scope(self.scope, shop_id)
        sku = get_in_scope(Sku.objects.all(), sku_id, "SKU")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = shop_sku_set(shop=shop, sku=sku, **data.validated_data)
        return Response(ShopSkuOut(entry).data)


class ProductListCreateApi(BrandHQAPIView):
    class InputSerializer(serializers.Serializer):
        class SkuIn(serializers.Serializer):
            code = serializers.CharField(max_length=64)
            price_fen = serializers.IntegerField(min_value=1)
            barcode = serializers.CharField(max_length=64, required=False, default="")
            attributes = serializers.DictField(required=False, default=dict)

        name = serializers.CharField(max_length=100)
        category_id = serializers.IntegerField(min_value=1, required=False, allow_null=True)
        description = serializers.CharField(required=False, default="", allow_blank=True)
        image_urls = serializers.ListField(child=serializers.URLField(), required=False, default=list)
        skus = SkuIn(many=True, allow_empty=False)

    class OutputSerializer(serializers.Serializer):
        class SkuOut(serializers.Serializer):
            id = serializers.IntegerField()
            code = serializers.CharField()
            price_fen = serializers.IntegerField()
            barcode = serializers.CharField()
            attributes = serializers.JSONField()

        id = serializers.IntegerField()
        name = serializers.CharField()
        category_id = serializers.IntegerField(allow_null=True)
        image_urls = serializers.JSONField()
        skus = SkuOut(many=True)

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        return self.paginated(selectors.products_list(), self.OutputSerializer)

    @extend_schema(responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        category_id = values.pop("category_id", None)
        category = get_in_scope(Category.objects.all(), category_id, "category") if category_id else None
        product = product_create(category=category, **values)
        return Response(self.OutputSerializer(product).data, status=status.HTTP_201_CREATED)


class ProductPushApi(BrandHQAPIView):
    """POST /api/v1/console/products/<id>/push {shop_ids, stock?, price_fen?}: onto many shops at once."""

    class InputSerializer(serializers.Serializer):
        shop_ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=5000
        )
        stock = serializers.IntegerField(min_value=0, required=False, allow_null=True)
        price_fen = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    class OutputSerializer(serializers.Serializer):
        written = serializers.IntegerField(help_text="Shop SKU rows written.")

    @extend_schema(responses=OutputSerializer)
    def post(self, request, product_id: int):
        product = get_in_scope(Product.objects.all(), product_id, "product")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response({"written": product_push_to_shops(product=product, **data.validated_data)})


class ProductPushAllApi(BrandHQAPIView):
    """POST /api/v1/console/products/<id>/push-all {shop_ids?, stock?, price_fen?}: a background push to every
    shop (or to the listed ones), for brands with thousands of shops. 202 with the job; poll it for progress."""

    class InputSerializer(serializers.Serializer):
        shop_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, allow_empty=False)
        stock = serializers.IntegerField(min_value=0, required=False, allow_null=True)
        price_fen = serializers.IntegerField(min_value=1, required=False, allow_null=True)

    @extend_schema(responses={202: ShopPushOut})
    def post(self, request, product_id: int):
        product = get_in_scope(Product.objects.all(), product_id, "product")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        push = shop_push_start(product=product, user_id=request.user.id, **data.validated_data)
        return Response(ShopPushOut(push).data, status=202)


class ShopPushDetailApi(BrandHQAPIView):
    """GET /api/v1/console/shop-pushes/<id>: a push's progress."""

    @extend_schema(responses=ShopPushOut)
    def get(self, request, push_id: int):
        return Response(ShopPushOut(get_in_scope(ShopPush.objects.all(), push_id, "push")).data)


class OrderListApi(BrandStaffAPIView):
    class FilterSerializer(serializers.Serializer):
        store_id = serializers.IntegerField(min_value=1, required=False)

    @extend_schema(responses=StaffOrderOut(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        qs = selectors.orders_for_scope(self.scope)
        if filters.validated_data.get("store_id"):
            qs = qs.filter(store_id=selectors.store_get_for_scope(self.scope, filters.validated_data["store_id"]).pk)
        return self.paginated(qs, StaffOrderOut)


class OrderFulfilmentApi(BrandStaffAPIView):
    class InputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=[c for c, _ in Order.FulfilmentStatus.choices])
        note = serializers.CharField(max_length=200, required=False, default="")

    @extend_schema(responses=StaffOrderOut)
    def post(self, request, order_id: int):
        order = selectors.order_get_for_scope(self.scope, order_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = order_fulfilment_advance(
            order=order, to_status=data.validated_data["status"], note=data.validated_data["note"]
        )
        return Response(StaffOrderOut(selectors.order_get_for_scope(self.scope, order.pk)).data)


class RefundApproveApi(BrandStaffAPIView):
    """POST /api/v1/console/refunds/<id>/approve: the money goes back through the payment gateway."""

    @extend_schema(
        request=None,
        responses={200: RefundDecisionOut, 502: error("WeChat Pay did not answer or refused the refund.")},
    )
    def post(self, request, refund_id: int):
        refund = selectors.refund_get_for_scope(self.scope, refund_id)
        return Response(RefundDecisionOut(refund_approve(refund=refund, actor_id=request.user.id)).data)


class RefundGoodsReceivedApi(BrandStaffAPIView):
    """POST /api/v1/console/refunds/<id>/goods-received: the returned goods are in the store; the money goes back."""

    @extend_schema(
        request=None,
        responses={200: RefundDecisionOut, 502: error("WeChat Pay did not answer or refused the refund.")},
    )
    def post(self, request, refund_id: int):
        refund = selectors.refund_get_for_scope(self.scope, refund_id)
        return Response(RefundDecisionOut(refund_goods_received(refund=refund, actor_id=request.user.id)).data)


class RefundRejectApi(BrandStaffAPIView):
    """POST /api/v1/console/refunds/<id>/reject {note?}"""

    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(required=False, default="", allow_blank=True, help_text="Kept to 200 chars.")

    @extend_schema(responses=RefundDecisionOut)
    def post(self, request, refund_id: int):
        refund = selectors.refund_get_for_scope(self.scope, refund_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = data.validated_data["note"][:200]
        return Response(RefundDecisionOut(refund_reject(refund=refund, actor_id=request.user.id, note=note)).data)


class RefundAbnormalListApi(BrandStaffAPIView):
    """GET /api/v1/console/refunds/abnormal: refunds WeChat Pay reported ABNORMAL, not resolved yet (in scope)."""

    @extend_schema(responses=RefundAbnormalOut(many=True))
    def get(self, request):
        return self.paginated(selectors.refunds_abnormal_for_scope(self.scope), RefundAbnormalOut)


class RefundAbnormalResolveApi(BrandStaffAPIView):
    """POST /api/v1/console/refunds/<id>/abnormal-resolve {resolution: merchant_bank_card | offline, note?}"""

    class InputSerializer(serializers.Serializer):
        resolution = serializers.ChoiceField(choices=AbnormalResolution.CHOICES)
        note = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)

    @extend_schema(responses=RefundDecisionOut)
    def post(self, request, refund_id: int):
        refund = selectors.refund_get_for_scope(self.scope, refund_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        refund = refund_abnormal_resolve(refund=refund, actor_id=request.user.id, **data.validated_data)
        return Response(RefundDecisionOut(refund).data)


class CouponTemplateCreateApi(BrandHQAPIView):
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=CouponTemplate.Kind.choices)
        amount_off_fen = serializers.IntegerField(min_value=0, required=False, default=0)
        percent_off = serializers.IntegerField(min_value=0, max_value=100, required=False, default=0)
        threshold_fen = serializers.IntegerField(min_value=0, required=False, default=0)
        total_stock = serializers.IntegerField(min_value=1)
        per_member_limit = serializers.IntegerField(min_value=1, max_value=100, required=False, default=1)
        valid_hours = serializers.IntegerField(min_value=1, required=False, default=72)
        claimable = serializers.BooleanField(required=False, default=True)
        product_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)
        shop_ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)

    @extend_schema(responses={201: CouponTemplateCreatedOut})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = coupon_template_create(**data.validated_data)
        return Response(CouponTemplateCreatedOut(template).data, status=status.HTTP_201_CREATED)


class CouponGrantApi(BrandHQAPIView):
    class InputSerializer(serializers.Serializer):
        member_id = serializers.IntegerField(min_value=1)
        issue_key = serializers.CharField(max_length=100)

    @extend_schema(responses={201: CouponOut})
    def post(self, request, template_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = get_in_scope(CouponTemplate.objects.all(), template_id, "coupon template")
        member = get_in_scope(Member.objects.all(), data.validated_data["member_id"], "member")
        coupon = coupon_grant(template=template, member=member, issue_key=data.validated_data["issue_key"])
        return Response(CouponOut(coupon).data, status=status.HTTP_201_CREATED)


class GuideShareCodeApi(BrandStaffAPIView):
    class InputSerializer(serializers.Serializer):
        shop_id = serializers.IntegerField(min_value=1, required=False)
        product_id = serializers.IntegerField(min_value=1, required=False)
        page = serializers.CharField(max_length=100, required=False, default="")

    class OutputSerializer(serializers.Serializer):
        scene = serializers.CharField(help_text="The scene the mini-program code carries.")
        image_base64 = serializers.CharField(help_text="The code's PNG, base64.")

    @extend_schema(responses={201: OutputSerializer, 502: error("WeChat did not answer or refused to make the code.")})
    def post(self, request, guide_id: int):
        guide = selectors.guide_for_scope(self.scope, guide_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        shop = selectors.shop_get_for_scope(self.scope, values["shop_id"]) if values.get("shop_id") else None
        product = (
            get_in_scope(Product.objects.all(), values["product_id"], "product") if values.get("product_id") else None
        )
        result = guide_share_code_create(guide=guide, shop=shop, product=product, page=values["page"])
        return Response(result, status=status.HTTP_201_CREATED)


class CommissionReportApi(BrandStaffAPIView):
    class OutputSerializer(serializers.Serializer):
        class Row(serializers.Serializer):
            store_id = serializers.IntegerField()
            store_code = serializers.CharField()
            store_name = serializers.CharField()
            orders = serializers.IntegerField()
            sales_fen = serializers.IntegerField()
            pending_fen = serializers.IntegerField()
            payable_fen = serializers.IntegerField()
            reversed_fen = serializers.IntegerField()

        results = Row(many=True, help_text="One row per store in the caller's scope.")

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return Response({"results": selectors.commission_report(scope=self.scope)})
