"""The console's pages, under /console/ on a brand's host."""

from django.urls import include, path, re_path

from console.views import (
    auth,
    coupons,
    dashboard,
    guide,
    guides,
    imports,
    live,
    market,
    members,
    orders,
    pos,
    shops,
)

app_name = "console"

urlpatterns = [
    path("login/", auth.LoginView.as_view(), name="login"),
    path("logout/", auth.LogoutView.as_view(), name="logout"),
    path("", dashboard.DashboardView.as_view(), name="dashboard"),
    path("me/", guide.GuideHomeView.as_view(), name="guide_home"),
    path("members/", members.MemberListView.as_view(), name="members"),
    path("members/<int:member_id>/", members.MemberDetailView.as_view(), name="member"),
    path("members/<int:member_id>/guide", members.MemberGuideView.as_view(), name="member_guide"),
    path("members/<int:member_id>/tags", members.MemberTagView.as_view(), name="member_tag"),
    path("members/imports/", imports.ImportListView.as_view(), name="imports"),
    path("members/imports/open", imports.ImportOpenView.as_view(), name="import_open"),
    path("members/imports/<int:import_id>/", imports.ImportDetailView.as_view(), name="import"),
    path("members/imports/<int:import_id>/chunks/<int:seq>", imports.ImportChunkView.as_view(), name="import_chunk"),
    path("members/imports/<int:import_id>/start", imports.ImportStartView.as_view(), name="import_start"),
    path("members/imports/<int:import_id>/errors.csv", imports.ImportErrorsView.as_view(), name="import_errors"),
    path("orders/", orders.OrderListView.as_view(), name="orders"),
    path("orders/<int:order_id>/", orders.OrderDetailView.as_view(), name="order"),
    path("orders/<int:order_id>/fulfilment", orders.OrderFulfilmentView.as_view(), name="order_fulfilment"),
    re_path(
        r"^refunds/(?P<refund_id>[0-9]+)/(?P<decision>approve|reject|goods-received|abnormal-offline|abnormal-to-bank)$",
        orders.RefundDecideView.as_view(),
        name="refund_decide",
    ),
    path("shops/", shops.ShopListView.as_view(), name="shops"),
    path("shops/<int:shop_id>/", shops.ShopDetailView.as_view(), name="shop"),
    path("shops/<int:shop_id>/open", shops.ShopOpenView.as_view(), name="shop_open"),
    path("coupons/", coupons.CouponListView.as_view(), name="coupons"),
    path("coupons/<int:template_id>/", coupons.CouponDetailView.as_view(), name="coupon"),
    path("guides/", guides.GuideListView.as_view(), name="guides"),
    path("guides/<int:guide_id>/", guides.GuideDetailView.as_view(), name="guide"),
    path("guides/<int:guide_id>/move", guides.GuideMoveView.as_view(), name="guide_move"),
    path("guides/<int:guide_id>/login", guides.GuideLoginView.as_view(), name="guide_login"),
    path("guides/<int:guide_id>/share", guides.GuideShareCodeView.as_view(), name="guide_share"),
    path("pos-keys/", pos.PosKeyListView.as_view(), name="pos_keys"),
    path("pos-keys/<int:key_id>/revoke", pos.PosKeyRevokeView.as_view(), name="pos_key_revoke"),
    path("market/", market.MarketView.as_view(), name="market"),
    path("live/", live.LiveRoomListView.as_view(), name="live_rooms"),
    path("live/<int:room_id>/", live.LiveRoomDetailView.as_view(), name="live_room"),
]

# The language switch (django.views.i18n.set_language: a host-only cookie), reachable before log-in.
i18n_urlpatterns = [path("console/i18n/", include("django.conf.urls.i18n"))]
