"""Rights market URLs on a brand's host, under /api/v1/market/."""
from django.urls import path

from rights_market.api import member, staff

urlpatterns = [
    # staff (HQ) of the issuing brand
    path("offers", staff.OfferListCreateApi.as_view(), name="market-offers"),
    path("offers/batch", staff.OfferBatchPublishApi.as_view(), name="market-offers-batch"),
    path("offers/<int:offer_id>/restock", staff.OfferRestockApi.as_view(), name="market-offer-restock"),
    path("offers/<int:offer_id>/<str:action>", staff.OfferActionApi.as_view(), name="market-offer-action"),
    path("vouchers/use", staff.VoucherUseApi.as_view(), name="market-voucher-use"),
    path("roi/issuer", staff.RoiIssuerApi.as_view(), name="market-roi-issuer"),
    # staff (HQ) of the accepting brand
    path("catalogue", staff.CatalogueApi.as_view(), name="market-catalogue"),
    path("listings", staff.ListingListCreateApi.as_view(), name="market-listings"),
    path("listings/<int:listing_id>/delist", staff.ListingDelistApi.as_view(), name="market-listing-delist"),
    path("roi/accepting", staff.RoiAcceptingApi.as_view(), name="market-roi-accepting"),
    # both sides
    path("exchanges", staff.ExchangeListApi.as_view(), name="market-exchanges"),
    path("statements", staff.StatementListApi.as_view(), name="market-statements"),
    path("statements/<int:statement_id>.csv", staff.StatementCsvApi.as_view(), name="market-statement-csv"),
    path("statements/<int:statement_id>/confirm", staff.StatementConfirmApi.as_view(),
         name="market-statement-confirm"),
    # mini-program members
    path("mp/listings", member.MemberListingListApi.as_view(), name="market-mp-listings"),
    path("mp/exchanges", member.MemberExchangeListCreateApi.as_view(), name="market-mp-exchanges"),
    path("mp/exchanges/<int:exchange_id>", member.MemberExchangeDetailApi.as_view(), name="market-mp-exchange"),
    path("mp/vouchers", member.MemberVoucherListApi.as_view(), name="market-mp-vouchers"),
    path("mp/vouchers/claim", member.VoucherClaimApi.as_view(), name="market-mp-voucher-claim"),
]
