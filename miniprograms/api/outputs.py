"""Output shapes shared by the shops API views."""

from rest_framework import serializers


class ShopOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    theme = serializers.CharField()
    is_open = serializers.BooleanField()
    store_code = serializers.CharField(source="store.code")
    store_name = serializers.CharField(source="store.name")
    city = serializers.CharField(source="store.city")
    address = serializers.CharField(source="store.address")


class ShopPushOut(serializers.Serializer):
    id = serializers.IntegerField()
    product_id = serializers.IntegerField()
    status = serializers.CharField()
    total_shops = serializers.IntegerField()
    done_shops = serializers.IntegerField()
    written = serializers.IntegerField()
    price_fen = serializers.IntegerField(allow_null=True)
    stock = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class CatalogItemOut(serializers.Serializer):
    sku_id = serializers.IntegerField()
    sku_code = serializers.CharField(source="sku.code")
    product_id = serializers.IntegerField(source="sku.product_id")
    product_name = serializers.CharField(source="sku.product.name")
    category = serializers.CharField(source="sku.product.category.name", default="")
    image_urls = serializers.JSONField(source="sku.product.image_urls")
    attributes = serializers.JSONField(source="sku.attributes")
    price_fen = serializers.IntegerField(source="effective_price_fen")
    list_price_fen = serializers.IntegerField(source="sku.price_fen")
    stock = serializers.IntegerField()


def catalog_item_out(row: dict) -> dict:
    """A `selectors.shop_catalog_rows` row as CatalogItemOut writes the ShopSku (the hot path: no serializer)."""
    return {
        "sku_id": row["sku_id"],
        "sku_code": row["sku_code"],
        "product_id": row["product_id"],
        "product_name": row["product_name"],
        "category": row["category"],
        "image_urls": row["image_urls"],
        "attributes": row["attributes"],
        "price_fen": row["list_price_fen"] if row["price_fen"] is None else row["price_fen"],
        "list_price_fen": row["list_price_fen"],
        "stock": row["stock"],
    }


class OrderLineOut(serializers.Serializer):
    id = serializers.IntegerField()
    sku_id = serializers.IntegerField()
    sku_code = serializers.CharField()
    product_name = serializers.CharField()
    attributes = serializers.JSONField()
    unit_price_fen = serializers.IntegerField()
    quantity = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    total_fen = serializers.IntegerField()
    refunded_quantity = serializers.IntegerField()


class RefundLineOut(serializers.Serializer):
    line_id = serializers.IntegerField(source="order_line_id")
    quantity = serializers.IntegerField()
    amount_fen = serializers.IntegerField()


class OrderRefundOut(serializers.Serializer):
    """A refund as the member sees it; `after_sales_status` is the step they are at (services.refunds)."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    amount_fen = serializers.IntegerField()
    return_goods = serializers.BooleanField()
    status = serializers.CharField()
    after_sales_status = serializers.SerializerMethodField()
    reason = serializers.CharField()
    lines = RefundLineOut(many=True)
    created_at = serializers.DateTimeField()
    refunded_at = serializers.DateTimeField(allow_null=True)

    def get_after_sales_status(self, refund) -> str:
        from miniprograms.services.refunds import refund_after_sales_status

        return refund_after_sales_status(refund)


class OrderEventOut(serializers.Serializer):
    status = serializers.CharField()
    note = serializers.CharField()
    created_at = serializers.DateTimeField()


class OrderOut(serializers.Serializer):
    reusable = (
        True  # reads nothing but the order and its rows: one shared instance renders them (core.serializer_reuse)
    )

    id = serializers.IntegerField()
    number = serializers.CharField()
    channel = serializers.CharField()
    status = serializers.CharField()
    shop_id = serializers.IntegerField(allow_null=True)
    store_code = serializers.CharField(source="store.code")
    subtotal_fen = serializers.IntegerField()
    discount_fen = serializers.IntegerField()
    total_fen = serializers.IntegerField()
    refunded_fen = serializers.IntegerField()
    coupon_id = serializers.IntegerField(allow_null=True)
    fulfilment = serializers.CharField()
    fulfilment_status = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    paid_at = serializers.DateTimeField(allow_null=True)
    lines = OrderLineOut(many=True)
    events = OrderEventOut(many=True)
    refunds = OrderRefundOut(many=True)


class StaffOrderOut(OrderOut):
    member_id = serializers.IntegerField(allow_null=True)
    guide_id = serializers.IntegerField(allow_null=True)
    receipt_no = serializers.CharField(allow_null=True)


class CouponOut(serializers.Serializer):
    id = serializers.IntegerField()
    template_id = serializers.IntegerField()
    name = serializers.CharField(source="template.name")
    kind = serializers.CharField(source="template.kind")
    amount_off_fen = serializers.IntegerField(source="template.amount_off_fen")
    percent_off = serializers.IntegerField(source="template.percent_off")
    threshold_fen = serializers.IntegerField(source="template.threshold_fen")
    status = serializers.CharField()
    source = serializers.CharField()
    code = serializers.CharField(allow_null=True)
    valid_until = serializers.DateTimeField()


class ShopSkuOut(serializers.Serializer):
    """A SKU as one shop sells it: its price there (null: the list price), stock and whether it is on sale."""

    shop_id = serializers.IntegerField()
    sku_id = serializers.IntegerField()
    price_fen = serializers.IntegerField(allow_null=True)
    stock = serializers.IntegerField()
    on_sale = serializers.BooleanField()


class RefundDecisionOut(serializers.Serializer):
    refund_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    after_sales_status = serializers.SerializerMethodField()

    def get_after_sales_status(self, refund) -> str:
        from miniprograms.services.refunds import refund_after_sales_status

        return refund_after_sales_status(refund)


class RefundAbnormalOut(serializers.Serializer):
    """A refund WeChat Pay could not pay into the member's account (REFUND.ABNORMAL), waiting to be resolved."""

    id = serializers.IntegerField()
    number = serializers.CharField()
    order_id = serializers.IntegerField()
    order_number = serializers.CharField(source="order.number")
    store_id = serializers.IntegerField(source="order.store_id")
    amount_fen = serializers.IntegerField()
    abnormal_at = serializers.DateTimeField()
    last_error = serializers.CharField()


class CouponTemplateCreatedOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class PosKeyOut(serializers.Serializer):
    """A store's new POS key: shown once, never stored in the clear."""

    store_id = serializers.IntegerField()
    api_key = serializers.CharField()
