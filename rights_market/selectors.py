"""Scoped reads of the rights market. Every selector takes the brand whose staff or member is asking and
returns only that brand's side: the catalogue shows terms and remaining stock, never issuers' sales; an issuer
sees exchanges of its offers without the accepting brand's member ids."""
from __future__ import annotations

from django.db.models import Q, QuerySet

from rights_market.models import Exchange, Listing, Offer, Statement


def catalogue_for_brand(*, brand) -> QuerySet[Offer]:
    """Live offers of other brands that `brand` may list."""
    return (Offer.objects.filter(status=Offer.Status.LIVE).exclude(issuer=brand)
            .filter(Q(eligible_brand_ids=[]) | Q(eligible_brand_ids__contains=[brand.pk]))
            .select_related("issuer"))


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
    return Exchange.objects.filter(issuer=brand).select_related("offer", "accepting_brand") \
        .defer("member_id", "request_key", "fulfilment_code")


def statements_of_brand(*, brand) -> QuerySet[Statement]:
    return Statement.objects.filter(Q(brand_low=brand) | Q(brand_high=brand)).select_related("payer", "payee")


def voucher_state(voucher) -> str:
    """What a member is told of a voucher: issued, used, void or expired (an issued one past its date)."""
    from django.utils import timezone

    if voucher.status == voucher.Status.ISSUED and voucher.valid_until <= timezone.now():
        return "expired"
    return voucher.status


def vouchers_of_member_accepting(*, brand, member_id: int) -> list[dict]:
    """The market vouchers a member of `brand` won, newest first, each with its state as the issuer sees it
    now (read in each issuer's schema: one query per issuer)."""
    from django_tenants.utils import schema_context

    from rights_market.brandside.models import Voucher

    exchanges = list(exchanges_of_member(brand=brand, member_id=member_id)
                     .filter(status=Exchange.Status.FULFILLED, fulfilment_ref__startswith="voucher:")
                     .select_related("issuer").order_by("-id")[:200])
    by_issuer: dict[int, dict[int, Voucher]] = {}
    for issuer in {e.issuer for e in exchanges}:
        with schema_context(issuer.schema_name):
            by_issuer[issuer.pk] = {v.exchange_id: v for v in Voucher.objects.filter(
                exchange_id__in=[e.pk for e in exchanges if e.issuer_id == issuer.pk])}
    out = []
    for exchange in exchanges:
        voucher = by_issuer[exchange.issuer_id].get(exchange.pk)
        if voucher is None:  # pragma: no cover - a fulfilled voucher exchange always has its voucher
            continue
        out.append({"exchange_id": exchange.pk, "issuer_id": exchange.issuer_id, "issuer_name": exchange.issuer.name,
                    "title": voucher.title, "code": voucher.code, "face_value_fen": voucher.face_value_fen,
                    "valid_until": voucher.valid_until, "state": voucher_state(voucher),
                    "claimed": voucher.claimed_member_id is not None, "used_at": voucher.used_at})
    return out


def vouchers_claimed_by(*, member_id: int):
    """Market vouchers claimed by a member of the current (issuing) brand, with their coupons."""
    from rights_market.brandside.models import Voucher

    return Voucher.objects.filter(claimed_member_id=member_id).select_related("coupon").order_by("-id")
