"""Reads of the shops app, already scoped. Staff reads take a core.permissions.StaffScope: a store manager reaches
only their franchisee's stores, shops and orders; another franchisee's id is a 404, never the object. Member reads
take the member; guide reads take the guide."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from core.permissions import StaffScope
from core.selectors import get_in_scope
from core.sql_reads import JoinedRead
from members.models import CardLevel, Guide, Member, Store
from members.selectors import phone_hash, store_get_for_scope, stores_for_scope  # noqa: F401
from miniprograms.models import (
    CommissionEntry,
    Coupon,
    CouponTemplate,
    GuideTouch,
    Order,
    Product,
    Refund,
    Shop,
    ShopSku,
    Sku,
)

# --- shops and catalog -----------------------------------------------------------------------------------------


def shops_for_scope(scope: StaffScope) -> QuerySet[Shop]:
    qs = Shop.objects.select_related("store")
    return qs if scope.is_hq else qs.filter(store__franchisee_id=scope.franchisee_id)


def shop_get_for_scope(scope: StaffScope, shop_id) -> Shop:
    return get_in_scope(shops_for_scope(scope), shop_id, "shop")


def _shops_open() -> QuerySet[Shop]:
    return Shop.objects.select_related("store").filter(is_open=True, store__status=Store.Status.OPEN)


def shops_browse(*, city: str = "", store_code: str = "") -> QuerySet[Shop]:
    """Open shops of open stores, for the mini-program: by city and/or store code."""
    qs = _shops_open()
    if city:
        qs = qs.filter(store__city=city)
    if store_code:
        qs = qs.filter(store__code=store_code)
    return qs.annotate(store_code_order=F("store__code")).order_by("store_code_order", "id")


def shop_get_open(shop_id) -> Shop:
    """One open shop of an open store (each order create reads it: no browsing order to build and sort by)."""
    return get_in_scope(_shops_open(), shop_id, "shop")


_cart_read = JoinedRead(
    models=[("e", ShopSku), ("s", Sku), ("p", Product)],
    attach=[("e", "sku", "s"), ("s", "product", "p")],
    tail='FROM {e} JOIN {s} ON s."id" = e."sku_id" JOIN {p} ON p."id" = s."product_id" '
    'WHERE e."shop_id" = %s AND e."sku_id" = ANY(%s) AND e."on_sale" AND s."active" AND p."active"',
)


def shop_cart_entries(*, shop_id: int, sku_ids) -> dict[int, ShopSku]:
    """The cart read of every order create, and the whole of a sold-out attempt in a flash sale: by SKU id, the
    shop's entries for `sku_ids` that are on sale, of active SKUs of active products, with `sku` and `sku.product`
    attached: `ShopSku.objects.select_related("sku", "sku__product").filter(shop=.., sku_id__in=.., on_sale=True,
    sku__active=True, sku__product__active=True)`, in SQL written once (core.sql_reads)."""
    return {e.sku_id: e for e in _cart_read([shop_id, list(sku_ids)])}


def shop_catalog(*, shop: Shop) -> QuerySet[ShopSku]:
    """What a shop sells, with that shop's price and stock."""
    return (
        ShopSku.objects.filter(shop=shop, on_sale=True, sku__active=True, sku__product__active=True)
        .select_related("sku", "sku__product", "sku__product__category")
        .order_by("sku__product_id", "sku_id")
    )


def shop_catalog_rows(*, shop: Shop) -> QuerySet[dict]:
    """`shop_catalog` as `.values()` rows in one statement, no model instances: what api.outputs.catalog_item_out
    shapes (`price_fen` is the shop's override or None, `list_price_fen` the SKU's)."""
    return shop_catalog(shop=shop).values(
        "sku_id",
        "price_fen",
        "stock",
        sku_code=F("sku__code"),
        product_id=F("sku__product_id"),
        product_name=F("sku__product__name"),
        category=Coalesce(F("sku__product__category__name"), Value("")),
        image_urls=F("sku__product__image_urls"),
        attributes=F("sku__attributes"),
        list_price_fen=F("sku__price_fen"),
    )


def products_list() -> QuerySet[Product]:
    return Product.objects.select_related("category").prefetch_related("skus").order_by("-id")


# --- orders ----------------------------------------------------------------------------------------------------


def _orders() -> QuerySet[Order]:
    return Order.objects.select_related("shop", "store").prefetch_related("lines", "events", "refunds__lines")


def orders_for_member(member: Member) -> QuerySet[Order]:
    return _orders().filter(member=member)


def order_get_for_member(member: Member, order_id) -> Order:
    return get_in_scope(orders_for_member(member), order_id, "order")


def orders_for_scope(scope: StaffScope) -> QuerySet[Order]:
    qs = _orders()
    return qs if scope.is_hq else qs.filter(store__franchisee_id=scope.franchisee_id)


def order_get_for_scope(scope: StaffScope, order_id) -> Order:
    return get_in_scope(orders_for_scope(scope), order_id, "order")


def orders_for_guide(guide: Guide) -> QuerySet[Order]:
    return _orders().filter(guide=guide)


def refunds_abnormal_for_scope(scope: StaffScope) -> QuerySet[Refund]:
    """Refunds WeChat Pay reported ABNORMAL and nobody has resolved yet: HQ sees all, a manager their stores'."""
    qs = Refund.objects.select_related("order").filter(abnormal_at__isnull=False, abnormal_resolved_at__isnull=True)
    return qs if scope.is_hq else qs.filter(order__store__franchisee_id=scope.franchisee_id)


def refund_get_for_scope(scope: StaffScope, refund_id) -> Refund:
    qs = Refund.objects.select_related("order")
    if not scope.is_hq:
        qs = qs.filter(order__store__franchisee_id=scope.franchisee_id)
    return get_in_scope(qs, refund_id, "refund")


# --- coupons ---------------------------------------------------------------------------------------------------


def coupons_for_member(member: Member) -> QuerySet[Coupon]:
    return Coupon.objects.filter(member=member).select_related("template")


def coupon_templates_claimable() -> QuerySet[CouponTemplate]:
    return CouponTemplate.objects.filter(active=True, claimable=True)


# --- guides ----------------------------------------------------------------------------------------------------


def guide_for_scope(scope: StaffScope, guide_id) -> Guide:
    qs = Guide.objects.select_related("store")
    if not scope.is_hq:
        qs = qs.filter(store__franchisee_id=scope.franchisee_id)
    return get_in_scope(qs, guide_id, "guide")


def guide_attributed(*, member: Member, at=None) -> Guide | None:
    """The guide of the member's last touch within the attribution window, or None. Every order create reads it:
    `GuideTouch.objects.filter(member=.., touched_at__gte=since, touched_at__lte=at, guide__active=True)
    .order_by("-touched_at", "-id")`'s first guide, in SQL written once (core.sql_reads)."""
    at = at or timezone.now()
    since = at - timedelta(days=settings.MINIPROGRAMS_GUIDE_ATTRIBUTION_DAYS)
    found = _guide_attributed_read([member.pk, since, at])
    return found[0] if found else None


_guide_attributed_read = JoinedRead(
    models=[("g", Guide)],
    attach=[],
    joined={"t": GuideTouch},
    tail='FROM {g} JOIN {t} ON t."guide_id" = g."id" '
    'WHERE t."member_id" = %s AND t."touched_at" >= %s AND t."touched_at" <= %s AND g."active" '
    'ORDER BY t."touched_at" DESC, t."id" DESC LIMIT 1',
)


def order_lock_by_number(number: str) -> Order | None:
    """The order numbered `number`, its row locked (FOR UPDATE OF the order alone) until the transaction ends, with
    its member, the member's tier and its store attached: what marking it paid reads. `Order.objects
    .select_for_update(of=("self",)).select_related("member", "member__tier", "store").filter(number=..)` in SQL
    written once (core.sql_reads): every pay notification runs it."""
    found = _order_lock_read([number])
    return found[0] if found else None


_order_lock_read = JoinedRead(
    models=[("o", Order), ("m", Member), ("t", CardLevel), ("s", Store)],
    attach=[("o", "member", "m"), ("m", "tier", "t"), ("o", "store", "s")],
    tail='FROM {o} LEFT JOIN {m} ON m."id" = o."member_id" LEFT JOIN {t} ON t."id" = m."tier_id" '
    'JOIN {s} ON s."id" = o."store_id" WHERE o."number" = %s FOR UPDATE OF o',
)


def commissions_for_guide(guide: Guide) -> QuerySet[CommissionEntry]:
    return CommissionEntry.objects.filter(guide=guide).select_related("order")


def commission_report(*, scope: StaffScope, since=None, until=None) -> list[dict]:
    """Per store: attributed paid orders, their sales and commission by state."""
    qs = CommissionEntry.objects.all()
    if not scope.is_hq:
        qs = qs.filter(store__franchisee_id=scope.franchisee_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    rows = (
        qs.values("store_id", "store__code", "store__name")
        .annotate(
            orders=Count("id"),
            sales_fen=Sum("order__total_fen"),
            pending_fen=Sum("amount_fen", filter=Q(status=CommissionEntry.Status.PENDING)),
            payable_fen=Sum("amount_fen", filter=Q(status=CommissionEntry.Status.PAYABLE)),
            reversed_fen=Sum("amount_fen", filter=Q(status=CommissionEntry.Status.REVERSED)),
        )
        .order_by("store__code")
    )
    return [
        {
            "store_id": r["store_id"],
            "store_code": r["store__code"],
            "store_name": r["store__name"],
            "orders": r["orders"],
            "sales_fen": r["sales_fen"] or 0,
            "pending_fen": r["pending_fen"] or 0,
            "payable_fen": r["payable_fen"] or 0,
            "reversed_fen": r["reversed_fen"] or 0,
        }
        for r in rows
    ]


def member_spent_fen_since(*, member, since) -> int:
    """What the member paid (fen) in orders paid since `since`, online and in store; refunded orders excluded.
    Tier thresholds on amount spent count this."""
    from django.db.models import Sum

    total = Order.objects.filter(
        member_id=member.pk, paid_at__gte=since, status__in=[Order.Status.PAID, Order.Status.REFUNDING]
    ).aggregate(total=Sum("total_fen"))["total"]
    return int(total or 0)
