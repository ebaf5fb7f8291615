"""Rights market URLs on a brand's host, under /api/v1/market/."""

from django.urls import path

from rights_market.api import member, staff

_accepting_exchanges = staff.AcceptingExchangeListApi.as_view()
_issuing_exchanges = staff.IssuingExchangeListApi.as_view()


def exchanges_by_side(request):
    """The older form `exchanges?side=issuing|accepting` (default accepting), routed to the view of that side."""
    side_view = _issuing_exchanges if request.GET.get("side") == "issuing" else _accepting_exchanges
    return side_view(request)


exchanges_by_side.csrf_exempt = True  # as the DRF views it routes to (they authenticate for themselves)

urlpatterns = [
    # staff (HQ) of the issuing brand
    path("offers", staff.OfferListCreateApi.as_view(), name="market-offers"),
    path("offers/batch", staff.OfferBatchPublishApi.as_view(), name="market-offers-batch"),
    path("offers/<int:offer_id>/restock", staff.OfferRestockApi.as_view(), name="market-offer-restock"),
    path("offers/<int:offer_id>/pause", staff.OfferPauseApi.as_view(), name="market-offer-pause"),
    path("offers/<int:offer_id>/resume", staff.OfferResumeApi.as_view(), name="market-offer-resume"),
    path("offers/<int:offer_id>/end", staff.OfferEndApi.as_view(), name="market-offer-end"),
    path("vouchers/use", staff.VoucherUseApi.as_view(), name="market-voucher-use"),
    path("roi/issuer", staff.RoiIssuerApi.as_view(), name="market-roi-issuer"),
    # staff (HQ) of the accepting brand
    path("catalogue", staff.CatalogueApi.as_view(), name="market-catalogue"),
    path("listings", staff.ListingListCreateApi.as_view(), name="market-listings"),
    path("listings/<int:listing_id>/delist", staff.ListingDelistApi.as_view(), name="market-listing-delist"),
    path("roi/accepting", staff.RoiAcceptingApi.as_view(), name="market-roi-accepting"),
    # both sides
    path("exchanges/accepting", _accepting_exchanges, name="market-exchanges-accepting"),
    path("exchanges/issuing", _issuing_exchanges, name="market-exchanges-issuing"),
    path("exchanges", exchanges_by_side, name="market-exchanges"),
    path("statements", staff.StatementListApi.as_view(), name="market-statements"),
    path("statements/<int:statement_id>.csv", staff.StatementCsvApi.as_view(), name="market-statement-csv"),
    path("statements/<int:statement_id>/confirm", staff.StatementConfirmApi.as_view(), name="market-statement-confirm"),
    # mini-program members
    path("mp/listings", member.MemberListingListApi.as_view(), name="market-mp-listings"),
    path("mp/exchanges", member.MemberExchangeListCreateApi.as_view(), name="market-mp-exchanges"),
    path("mp/exchanges/<int:exchange_id>", member.MemberExchangeDetailApi.as_view(), name="market-mp-exchange"),
    path("mp/vouchers/won", member.MemberWonVoucherListApi.as_view(), name="market-mp-vouchers-won"),
    path("mp/vouchers/claimed", member.MemberClaimedVoucherListApi.as_view(), name="market-mp-vouchers-claimed"),
    path("mp/vouchers/claim", member.VoucherClaimApi.as_view(), name="market-mp-voucher-claim"),
]
