"""Scoped reads of the rights market. Every selector takes the brand whose staff or member is asking and
returns only that brand's side: the catalogue shows terms and remaining stock, never issuers' sales; an issuer
sees exchanges of its offers without the accepting brand's member ids."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from rights_market.models import Exchange, Listing, Offer, Statement


def catalogue_for_brand(*, brand) -> QuerySet[Offer]:
    """Live offers of other brands that `brand` may list."""
    return (
        Offer.objects.filter(status=Offer.Status.LIVE)
        .exclude(issuer=brand)
        .filter(Q(eligible_brand_ids=[]) | Q(eligible_brand_ids__contains=[brand.pk]))
        .select_related("issuer")
    )


def offers_of_issuer(*, brand) -> QuerySet[Offer]:
    return Offer.objects.filter(issuer=brand)


def offer_of_issuer(*, brand, offer_id: int) -> Offer | None:
    return offers_of_issuer(brand=brand).filter(pk=offer_id).first()


def listings_of_brand(*, brand) -> QuerySet[Listing]:
    return Listing.objects.filter(brand=brand).select_related("offer", "offer__issuer")


def listings_for_member(*, brand) -> QuerySet[Listing]:
    """What a member of `brand` can redeem now: listed here, offer live."""
    return listings_of_brand(brand=brand).filter(status=Listing.Status.LISTED, offer__status=Offer.Status.LIVE)


def exchanges_of_member(*, brand, member_id: int) -> QuerySet[Exchange]:
    return Exchange.objects.filter(accepting_brand=brand, member_id=member_id).select_related("offer")


def exchanges_accepted_by(*, brand) -> QuerySet[Exchange]:
    """Exchanges by `brand`'s members (its member ids included: they are its own members)."""
    return Exchange.objects.filter(accepting_brand=brand).select_related("offer", "issuer")


def exchanges_issued_by(*, brand) -> QuerySet[Exchange]:
    """Exchanges of `brand`'s offers. Callers must not show member_id (another brand's member)."""
    return (
        Exchange.objects.filter(issuer=brand)
        .select_related("offer", "accepting_brand")
        .defer("member_id", "request_key", "fulfilment_code")
    )


def statements_of_brand(*, brand) -> QuerySet[Statement]:
    return Statement.objects.filter(Q(brand_low=brand) | Q(brand_high=brand)).select_related("payer", "payee")


def voucher_state(voucher) -> str:
    """What a member is told of a voucher: issued, used, void or expired (an issued one past its date)."""
    from django.utils import timezone

    if voucher.status == voucher.Status.ISSUED and voucher.valid_until <= timezone.now():
        return "expired"
    return voucher.status


def voucher_exchanges_of_member(*, brand, member_id: int) -> QuerySet[Exchange]:
    """The exchanges in which a member of `brand` won a market voucher (their vouchers live in each issuer's
    schema: `vouchers_for_exchanges`)."""
    return (
        exchanges_of_member(brand=brand, member_id=member_id)
        .filter(status=Exchange.Status.FULFILLED, fulfilment_ref__startswith="voucher:")
        .select_related("issuer")
    )


def vouchers_for_exchanges(exchanges) -> dict[int, object]:
    """The market voucher of each of `exchanges` by exchange id, read in each issuer's schema (one query per
    issuer)."""
    from django_tenants.utils import schema_context

    from rights_market.brandside.models import Voucher

    found: dict[int, Voucher] = {}
    for issuer in {e.issuer for e in exchanges}:
        with schema_context(issuer.schema_name):
            found.update(
                {
                    v.exchange_id: v
                    for v in Voucher.objects.filter(
                        exchange_id__in=[e.pk for e in exchanges if e.issuer_id == issuer.pk]
                    )
                }
            )
    return found


def vouchers_claimed_by(*, member_id: int):
    """Market vouchers claimed by a member of the current (issuing) brand, with their coupons."""
    from rights_market.brandside.models import Voucher

    return Voucher.objects.filter(claimed_member_id=member_id).select_related("coupon").order_by("-id")
