"""Publishing offers (issuing brand) and listing them (accepting brand). Public rows; callers pass the brand
whose staff act, and every write checks the offer or listing belongs to that brand."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound
from rights_market.models import Listing, Offer, Provider

OFFER_FIELDS = (
    "kind",
    "title",
    "description",
    "image_url",
    "face_value_fen",
    "per_member_limit",
    "valid_from",
    "valid_until",
    "voucher_valid_days",
    "min_tier_rank",
    "eligible_cities",
    "eligible_brand_ids",
    "settlement_price_fen",
    "provider_sku",
    "source_ref",
)


def offer_publish(*, issuer, total_stock: int, provider_slug: str = "", go_live: bool = True, **fields: Any) -> Offer:
    """Put a benefit of `issuer` in the catalogue (live at once unless `go_live` is False)."""
    unknown = set(fields) - set(OFFER_FIELDS)
    if unknown:
        raise ApplicationError(
            _("Unknown offer fields: %(fields)s"), params={"fields": sorted(unknown)}, code="invalid_fields"
        )
    provider = None
    if provider_slug:
        provider = Provider.objects.filter(slug=provider_slug, active=True).first()
        if provider is None:
            raise NotFound(_("No such provider."), code="provider_not_found")
    offer = Offer(
        issuer=issuer,
        total_stock=total_stock,
        remaining_stock=total_stock,
        provider=provider,
        status=Offer.Status.LIVE if go_live else Offer.Status.DRAFT,
        **fields,
    )
    offer.full_clean()
    with transaction.atomic():
        offer.save(force_insert=True)
    return offer


def offers_publish_batch(*, issuer, templates: list[dict[str, Any]]) -> list[Offer]:
    """One click: publish several coupon templates at once, all or none. Each item is the fields of
    `offer_publish` (kind defaults to coupon); `source_ref` (e.g. "coupon_template:<id>") makes publishing
    the same template twice a Conflict rather than a second offer. See offers_publish_coupon_templates for the
    one click from the brand's own coupon templates."""
    if not templates:
        raise ApplicationError(_("Choose at least one template."), code="empty_batch")
    offers = []
    with transaction.atomic():
        for item in templates:
            item = dict(item)
            item.setdefault("kind", Offer.Kind.COUPON)
            ref = item.get("source_ref", "")
            if ref and Offer.objects.filter(issuer=issuer, source_ref=ref).exists():
                raise Conflict(_("%(ref)s is already published."), params={"ref": ref}, code="already_published")
            offers.append(offer_publish(issuer=issuer, **item))
    return offers


def offers_publish_coupon_templates(
    *, issuer, template_ids: list[int], settlement_price_fen: int = 0, stock_per_template: int | None = None
) -> list[Offer]:
    """One click: publish the issuer's chosen coupon templates (miniprograms.CouponTemplate, read in the issuer's
    schema, which the request is already in) to the market, all or none. Each offer's stock is what the template
    has left (or `stock_per_template`, if smaller); vouchers stay valid as long as the template's coupons."""
    from django.db import connection

    from miniprograms.models import CouponTemplate

    if connection.schema_name != issuer.schema_name:
        raise ApplicationError(_("Publish coupon templates from the issuing brand's host."), code="wrong_brand")
    found = {t.pk: t for t in CouponTemplate.objects.filter(pk__in=template_ids, active=True)}
    missing = [pk for pk in template_ids if pk not in found]
    if missing:
        raise NotFound(
            _("No such coupon template."), code="template_not_found", fields={"template_ids": [f"unknown: {missing}"]}
        )
    items = []
    for pk in template_ids:
        template = found[pk]
        left = template.total_stock - template.issued_count
        stock = min(left, stock_per_template) if stock_per_template else left
        if stock <= 0:
            raise ApplicationError(
                _("Coupon template %(pk)s has no stock left."), params={"pk": pk}, code="template_sold_out"
            )
        terms = f"满{template.threshold_fen / 100:g}元可用" if template.threshold_fen else "无门槛"
        items.append(
            {
                "kind": Offer.Kind.COUPON,
                "title": template.name[:100],
                "description": terms,
                "face_value_fen": template.amount_off_fen,
                "total_stock": stock,
                "per_member_limit": template.per_member_limit,
                "voucher_valid_days": max(1, -(-template.valid_hours // 24)),
                "settlement_price_fen": settlement_price_fen,
                "source_ref": f"coupon_template:{pk}",
            }
        )
    return offers_publish_batch(issuer=issuer, templates=items)


def _own_offer(issuer, offer_id: int, *, lock: bool = False) -> Offer:
    qs = Offer.objects.filter(pk=offer_id, issuer=issuer)
    offer = (qs.select_for_update() if lock else qs).first()
    if offer is None:
        raise NotFound(_("No such offer."), code="offer_not_found")
    return offer


_MOVES = {
    "pause": ({Offer.Status.LIVE}, Offer.Status.PAUSED),
    "resume": ({Offer.Status.PAUSED, Offer.Status.DRAFT}, Offer.Status.LIVE),
    "end": ({Offer.Status.LIVE, Offer.Status.PAUSED, Offer.Status.DRAFT}, Offer.Status.ENDED),
}


def offer_status_change(*, issuer, offer_id: int, action: str) -> Offer:
    """pause (live -> paused), resume (paused/draft -> live), end (any -> ended, for good)."""
    if action not in _MOVES:
        raise ApplicationError(_("Unknown action."), code="invalid_action")
    allowed, target = _MOVES[action]
    with transaction.atomic():
        offer = _own_offer(issuer, offer_id, lock=True)
        if offer.status not in allowed:
            raise Conflict(
                _("Cannot %(action)s an offer that is %(status)s."),
                params={"action": action, "status": offer.status},
                code="invalid_transition",
            )
        offer.status = target
        offer.full_clean()
        offer.save(update_fields=["status", "updated_at"])
    return offer


def offer_pause(*, issuer, offer_id: int) -> Offer:
    return offer_status_change(issuer=issuer, offer_id=offer_id, action="pause")


def offer_resume(*, issuer, offer_id: int) -> Offer:
    return offer_status_change(issuer=issuer, offer_id=offer_id, action="resume")


def offer_end(*, issuer, offer_id: int) -> Offer:
    return offer_status_change(issuer=issuer, offer_id=offer_id, action="end")


def offer_restock(*, issuer, offer_id: int, add: int) -> Offer:
    """Add `add` units: total and remaining grow together, in one statement (exchanges may be taking stock)."""
    if not isinstance(add, int) or add <= 0 or add > 10_000_000:
        raise ApplicationError(_("Restock by a positive whole number."), code="invalid_quantity")
    with transaction.atomic():
        updated = (
            Offer.objects.filter(pk=offer_id, issuer=issuer)
            .exclude(status=Offer.Status.ENDED)
            .update(
                total_stock=F("total_stock") + add,
                remaining_stock=F("remaining_stock") + add,
                updated_at=timezone.now(),
            )
        )
        if not updated:
            _own_offer(issuer, offer_id)
            raise Conflict(_("An ended offer cannot be restocked."), code="invalid_transition")
    return Offer.objects.get(pk=offer_id)


def listing_create(*, brand, offer_id: int, points_price: int, eligible_tier_ids: list[int] | None = None) -> Listing:
    """`brand` shows a live offer of another brand at its own points price, optionally only to members of some
    of its own tiers (ids of its CardLevels; read in `brand`'s schema). Re-listing updates price and tiers."""
    from django_tenants.utils import schema_context

    from members.models import CardLevel

    if isinstance(points_price, bool) or not isinstance(points_price, int) or points_price <= 0:
        raise ApplicationError(_("Points price must be a positive whole number."), code="invalid_points")
    tier_ids = sorted(set(eligible_tier_ids or []))
    if tier_ids:
        with schema_context(brand.schema_name):
            known = set(CardLevel.objects.filter(pk__in=tier_ids).values_list("pk", flat=True))
        if known != set(tier_ids):
            raise ApplicationError(
                _("No such tier in this brand."),
                code="tier_not_found",
                fields={"eligible_tier_ids": [f"unknown: {sorted(set(tier_ids) - known)}"]},
            )
    offer = Offer.objects.filter(pk=offer_id, status=Offer.Status.LIVE).exclude(issuer=brand).first()
    if offer is None:
        raise NotFound(_("No such offer in the market."), code="offer_not_found")
    if offer.eligible_brand_ids and brand.pk not in offer.eligible_brand_ids:
        raise ApplicationError(_("This offer is not open to your brand."), code="brand_not_eligible", status_code=403)
    with transaction.atomic():
        listing, _created = Listing.objects.select_for_update().get_or_create(
            brand=brand, offer=offer, defaults={"points_price": points_price, "eligible_tier_ids": tier_ids}
        )
        listing.points_price = points_price
        listing.eligible_tier_ids = tier_ids
        listing.status = Listing.Status.LISTED
        listing.full_clean(validate_unique=False)
        listing.save(update_fields=["points_price", "eligible_tier_ids", "status", "updated_at"])
    return listing


def listing_delist(*, brand, listing_id: int) -> Listing:
    with transaction.atomic():
        listing = Listing.objects.select_for_update().filter(pk=listing_id, brand=brand).first()
        if listing is None:
            raise NotFound(_("No such listing."), code="listing_not_found")
        listing.status = Listing.Status.DELISTED
        listing.save(update_fields=["status", "updated_at"])
    return listing
