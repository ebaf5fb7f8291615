"""Plain builders for rights market tests (work under `db` and `committed_db`)."""

from __future__ import annotations

import uuid

from django_tenants.utils import schema_context

from rights_market.models import Exchange, Listing, Offer
from rights_market.services.catalogue import listing_create, offer_publish


def member_make(brand, *, points: int = 0, openid: str | None = None, tier: str = "", city: str = ""):
    """A member of `brand` with `points` on their balance (earned through the points services)."""
    from members.models import CardLevel, Member, Store
    from points.services import points_earn

    with schema_context(brand.schema_name):
        level = None
        if tier:
            level, _ = CardLevel.objects.get_or_create(name=tier, defaults={"rank": CardLevel.objects.count() + 1})
        store = None
        if city:
            store, _ = Store.objects.get_or_create(code=f"S-{city}", defaults={"name": city, "city": city})
        member = Member.objects.create(openid=openid or f"o-{uuid.uuid4().hex[:16]}", tier=level, store=store)
        if points:
            points_earn(member=member, points=points, idempotency_key=f"seed-{member.pk}", reason="seed")
    return member


def balance_of(brand, member_id: int) -> int:
    from points.models import PointsAccount

    with schema_context(brand.schema_name):
        return PointsAccount.objects.filter(member_id=member_id).values_list("balance", flat=True).first() or 0


def offer_make(issuer, *, stock: int = 10, kind: str = Offer.Kind.COUPON, **fields) -> Offer:
    defaults = {"title": "10 yuan off", "face_value_fen": 1000, "settlement_price_fen": 300, "kind": kind}
    defaults.update(fields)
    return offer_publish(issuer=issuer, total_stock=stock, **defaults)


def listing_make(brand, offer, *, points_price: int = 100) -> Listing:
    return listing_create(brand=brand, offer_id=offer.pk, points_price=points_price)


def exchange_requested(brand, member, listing, *, key: str | None = None) -> Exchange:
    from rights_market.services.exchanges import exchange_request

    with schema_context(brand.schema_name):
        return exchange_request(brand=brand, member=member, listing_id=listing.pk, request_key=key or uuid.uuid4().hex)


def all_rows(client, url: str) -> list[dict]:
    """Every row of a paginated list answer, following `next` to the last page."""
    page = client.get(url).json()
    rows = list(page["results"])
    while page["next"]:
        page = client.get(page["next"]).json()
        rows += page["results"]
    return rows
