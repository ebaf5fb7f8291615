"""The rights market's month of clearing lines for bench/settlement.py and bench/payout.py: brands (public rows
only), the pairs that trade, and fulfilled exchanges with their clearing lines. Import after `_owndb.use(...)`."""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.utils import timezone

from rights_market.models import ClearingLine, Exchange, Listing, Offer, Statement
from tenants.models import Brand

MONTH = date(2026, 10, 1)
NEXT = date(2026, 11, 1)
BATCH = 5000


def make_brands(n: int, tag: str) -> list[Brand]:
    return Brand.objects.bulk_create(
        [Brand(slug=f"bs{tag}{i}", name=f"Bench {i}", schema_name=f"bs{tag}{i}") for i in range(n)]
    )


def make_pairs(brands: list[Brand], partners: int, rng: random.Random) -> list[tuple[Brand, Brand]]:
    """Directed (issuer, acceptor) pairs: each brand trades with `partners` others, both directions."""
    pairs = set()
    for i, brand in enumerate(brands):
        for k in range(1, partners // 2 + 1):
            other = brands[(i + k * 7) % len(brands)]
            if other.pk != brand.pk:
                pairs.add((brand, other))
                pairs.add((other, brand))
    return sorted(pairs, key=lambda p: (p[0].pk, p[1].pk))


def make_lines(pairs, n: int, month: date, rng: random.Random, tag: str) -> int:
    issuers = sorted({p[0] for p in pairs}, key=lambda b: b.pk)
    offers = {
        o.issuer_id: o
        for o in Offer.objects.bulk_create(
            [
                Offer(
                    issuer=b,
                    kind="coupon",
                    title=f"Bench {b.slug}",
                    face_value_fen=1000,
                    total_stock=10_000_000,
                    remaining_stock=10_000_000,
                    settlement_price_fen=100 + b.pk % 400,
                    status="live",
                    source_ref=tag,
                )
                for b in issuers
            ]
        )
    }
    listings = {
        (i.pk, a.pk): listing
        for (i, a), listing in zip(
            pairs,
            Listing.objects.bulk_create([Listing(brand=a, offer=offers[i.pk], points_price=100) for i, a in pairs]),
            strict=True,
        )
    }
    at = timezone.make_aware(timezone.datetime.combine(month, timezone.datetime.min.time())) + timedelta(days=3)
    made = 0
    while made < n:
        size = min(BATCH, n - made)
        chosen = [rng.choice(pairs) for _ in range(size)]
        exchanges = Exchange.objects.bulk_create(
            [
                Exchange(
                    accepting_brand=a,
                    issuer=i,
                    offer=offers[i.pk],
                    listing=listings[(i.pk, a.pk)],
                    member_id=made + j + 1,
                    request_key=f"b{tag}{made + j}",
                    points=100,
                    settlement_price_fen=offers[i.pk].settlement_price_fen,
                    status="fulfilled",
                    requested_at=at,
                    fulfilled_at=at,
                    fulfilment_ref=f"voucher:{made + j}",
                    updated_at=at,
                )
                for j, (i, a) in enumerate(chosen)
            ]
        )
        ClearingLine.objects.bulk_create(
            [
                ClearingLine(
                    exchange=e,
                    payer_id=e.accepting_brand_id,
                    payee_id=e.issuer_id,
                    offer_id=e.offer_id,
                    amount_fen=e.settlement_price_fen,
                    month=month,
                    created_at=at,
                )
                for e in exchanges
            ]
        )
        made += size
    return made


BARE_SQL = f"""
    SELECT LEAST(payer_id, payee_id), GREATEST(payer_id, payee_id),
           SUM(amount_fen) FILTER (WHERE payer_id < payee_id), SUM(amount_fen) FILTER (WHERE payer_id > payee_id),
           COUNT(*)
    FROM {ClearingLine._meta.db_table}
    WHERE statement_id IS NULL AND month <= %s AND payer_id = ANY(%s)
    GROUP BY 1, 2
"""


def cleanup(brand_ids: list[int]) -> None:
    ClearingLine.objects.filter(payer_id__in=brand_ids).delete()
    Statement.objects.filter(brand_low_id__in=brand_ids).delete()
    Exchange.objects.filter(accepting_brand_id__in=brand_ids).delete()
    Listing.objects.filter(brand_id__in=brand_ids).delete()
    Offer.objects.filter(issuer_id__in=brand_ids).delete()
    Brand.objects.filter(pk__in=brand_ids).delete()
