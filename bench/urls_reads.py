"""Brand-host URLs for bench/reads.py: the real ones plus plain Django views of the four member reads.

Each plain view does what the real endpoint does with none of ekr's layers (no DRF, no serializers, no selectors):
the same member-token check (django.core.signing with the same salt and max age, the schema in the token must be
the request's), the same rows through the ORM, a JsonResponse out.

- /bench/plain/me                     the member with tier, guide and the guide's store, and the points balance
- /bench/plain/points                 balance and the lots expiring in the next 30 days, grouped by expiry
- /bench/plain/shops/<id>/catalog     the open shop (with its store) and its SKUs on sale, with product, category
- /bench/plain/live/rooms             the brand's and the member's store's visible rooms, a page of 20, newest first
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import Q, Sum
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone

from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from livestream.models import LiveRoom
from members.models import Member
from members.mp_auth import SALT
from miniprograms.models import Shop, ShopSku
from points.models import PointsAccount, PointsLot

SHANGHAI = timezone.get_fixed_timezone(8 * 60)
VISIBLE = ["upcoming", "live", "paused"]


def _token(request) -> dict | None:
    parts = request.headers.get("Authorization", "").split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    try:
        data = signing.loads(parts[1], salt=SALT, max_age=settings.EKR_MP_TOKEN_TTL_SECONDS)
    except signing.BadSignature:
        return None
    return data if data.get("s") == connection.schema_name else None


def _refused():
    return JsonResponse({"error": "unauthenticated"}, status=401)


def _iso(value):
    return None if value is None else timezone.localtime(value, SHANGHAI).isoformat()


def me(request):
    token = _token(request)
    if token is None:
        return _refused()
    member = Member.objects.select_related("tier", "guide__store").filter(openid=token["o"]).first()
    if member is None:
        return JsonResponse({"error": "not_a_member"}, status=404)
    balance = PointsAccount.objects.filter(member_id=member.pk).values_list("balance", flat=True).first() or 0
    tier, guide = member.tier, member.guide
    return JsonResponse(
        {
            "id": member.pk,
            "name": member.name,
            "phone": member.phone_masked,
            "gender": member.gender,
            "birthday": member.birthday.isoformat() if member.birthday else None,
            "joined_at": _iso(member.joined_at),
            "tier": None
            if tier is None
            else {
                "id": tier.pk,
                "name": tier.name,
                "rank": tier.rank,
                "benefits": tier.benefits,
                "points_multiplier": str(tier.points_multiplier),
                "since": _iso(member.tier_since),
            },
            "points_balance": balance,
            "guide": None
            if guide is None
            else {"id": guide.pk, "name": guide.name, "store": {"code": guide.store.code, "name": guide.store.name}},
            "card": {
                "state": member.card_state,
                "card_id": member.card_id or None,
                "code": member.card_code,
                "membership_number": member.membership_number,
            },
        }
    )


def points(request):
    token = _token(request)
    if token is None:
        return _refused()
    member_id = Member.objects.filter(openid=token["o"]).values_list("pk", flat=True).first()
    if member_id is None:
        return JsonResponse({"error": "not_a_member"}, status=404)
    until = timezone.now() + timedelta(days=30)
    balance = PointsAccount.objects.filter(member_id=member_id).values_list("balance", flat=True).first() or 0
    lots = list(
        PointsLot.objects.filter(account__member_id=member_id, is_open=True, expires_at__lte=until)
        .values("expires_at")
        .annotate(points=Sum("remaining"))
        .order_by("expires_at")
    )
    return JsonResponse(
        {
            "balance": balance,
            "expiring_points": sum(lot["points"] for lot in lots),
            "expiring_until": _iso(until),
            "expiring_lots": [{"expires_at": _iso(lot["expires_at"]), "points": lot["points"]} for lot in lots],
        }
    )


def catalog(request, shop_id: int):
    if _token(request) is None:
        return _refused()
    shop = Shop.objects.select_related("store").filter(pk=shop_id, is_open=True, store__status="open").first()
    if shop is None:
        return JsonResponse({"error": "not_found"}, status=404)
    items = (
        ShopSku.objects.filter(shop=shop, on_sale=True, sku__active=True, sku__product__active=True)
        .select_related("sku__product__category")
        .order_by("sku__product_id", "sku_id")
    )
    store = shop.store
    return JsonResponse(
        {
            "shop": {
                "id": shop.pk,
                "name": shop.name,
                "theme": shop.theme,
                "is_open": shop.is_open,
                "store_code": store.code,
                "store_name": store.name,
                "city": store.city,
                "address": store.address,
            },
            "results": [
                {
                    "sku_id": item.sku_id,
                    "sku_code": item.sku.code,
                    "product_id": item.sku.product_id,
                    "product_name": item.sku.product.name,
                    "category": item.sku.product.category.name if item.sku.product.category else "",
                    "image_urls": item.sku.product.image_urls,
                    "attributes": item.sku.attributes,
                    "price_fen": item.price_fen if item.price_fen is not None else item.sku.price_fen,
                    "list_price_fen": item.sku.price_fen,
                    "stock": item.stock,
                }
                for item in items
            ],
        }
    )


def rooms(request):
    token = _token(request)
    if token is None:
        return _refused()
    store_id = Member.objects.filter(openid=token["o"]).values_list("store_id", flat=True).first()
    where = Q(store__isnull=True) | Q(store_id=store_id) if store_id else Q(store__isnull=True)
    page = list(LiveRoom.objects.filter(where, status__in=VISIBLE).order_by("-id")[:21])
    return JsonResponse(
        {
            "next": "more" if len(page) > 20 else None,
            "previous": None,
            "results": [
                {
                    "id": room.pk,
                    "source": room.source,
                    "name": room.name,
                    "status": room.status,
                    "store_id": room.store_id,
                    "shop_id": room.shop_id,
                    "anchor_name": room.anchor_name,
                    "start_at": _iso(room.start_at),
                    "end_at": _iso(room.end_at),
                    "started_at": _iso(room.started_at),
                    "ended_at": _iso(room.ended_at),
                    "external_url": room.external_url,
                    "wechat_room_id": room.wechat_room_id,
                }
                for room in page[:20]
            ],
        }
    )


urlpatterns = [
    path("bench/plain/me", me),
    path("bench/plain/points", points),
    path("bench/plain/shops/<int:shop_id>/catalog", catalog),
    path("bench/plain/live/rooms", rooms),
    *tenant_urlpatterns,
]
