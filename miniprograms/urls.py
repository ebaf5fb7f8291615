from django.urls import path

from miniprograms.api import guide, member, payouts, pos, staff

urlpatterns = [
    # mini-program (members)
    path("mp/shops", member.ShopListApi.as_view()),
    path("mp/shops/<int:shop_id>/catalog", member.ShopCatalogApi.as_view()),
    path("mp/orders", member.OrderListCreateApi.as_view()),
    path("mp/orders/<int:order_id>", member.OrderDetailApi.as_view()),
    path("mp/orders/<int:order_id>/pay", member.OrderPayApi.as_view()),
    path("mp/orders/<int:order_id>/cancel", member.OrderCancelApi.as_view()),
    path("mp/orders/<int:order_id>/refund", member.OrderRefundRequestApi.as_view()),
    path("mp/coupons", member.CouponListApi.as_view()),
    path("mp/coupon-templates/<int:template_id>/claim", member.CouponClaimApi.as_view()),
    path("mp/guide-touches", member.GuideTouchApi.as_view()),
    # brand console (HQ and store managers)
    path("console/shops", staff.ShopListCreateApi.as_view()),
    path("console/shops/<int:shop_id>", staff.ShopUpdateApi.as_view()),
    path("console/shops/<int:shop_id>/skus/<int:sku_id>", staff.ShopSkuSetApi.as_view()),
    path("console/products", staff.ProductListCreateApi.as_view()),
    path("console/products/<int:product_id>/push", staff.ProductPushApi.as_view()),
    path("console/products/<int:product_id>/push-all", staff.ProductPushAllApi.as_view()),
    path("console/shop-pushes/<int:push_id>", staff.ShopPushDetailApi.as_view()),
    path("console/orders", staff.OrderListApi.as_view()),
    path("console/orders/<int:order_id>/fulfilment", staff.OrderFulfilmentApi.as_view()),
    path("console/refunds/<int:refund_id>/approve", staff.RefundApproveApi.as_view()),
    path("console/refunds/<int:refund_id>/reject", staff.RefundRejectApi.as_view()),
    path("console/refunds/<int:refund_id>/goods-received", staff.RefundGoodsReceivedApi.as_view()),
    path("console/refunds/abnormal", staff.RefundAbnormalListApi.as_view()),
    path("console/refunds/<int:refund_id>/abnormal-resolve", staff.RefundAbnormalResolveApi.as_view()),
    path("console/coupon-templates", staff.CouponTemplateCreateApi.as_view()),
    path("console/coupon-templates/<int:template_id>/grant", staff.CouponGrantApi.as_view()),
    path("console/guides/<int:guide_id>/share-codes", staff.GuideShareCodeApi.as_view()),
    path("console/reports/commission", staff.CommissionReportApi.as_view()),
    path("console/stores/<int:store_id>/pos-keys", pos.PosKeyListCreateApi.as_view()),
    path("console/stores/<int:store_id>/pos-keys/<int:key_id>/revoke", pos.PosKeyRevokeApi.as_view()),
    # a shopping guide's own login
    path("guide/orders", guide.GuideOrderListApi.as_view()),
    path("guide/commissions", guide.GuideCommissionListApi.as_view()),
    path("guide/payouts", payouts.GuidePayoutListApi.as_view()),
    path("console/commission-payouts", payouts.PayoutListPrepareApi.as_view()),
    path("console/commission-payouts/<int:payout_id>/approve", payouts.PayoutApproveApi.as_view()),
    path("console/commission-payouts/<int:payout_id>/pay", payouts.PayoutPayApi.as_view()),
    # store POS systems
    path("pos/orders", pos.PosOrdersApi.as_view()),
]
