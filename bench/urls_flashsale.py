"""Brand-host URLs for bench/flashsale.py: the real ones plus a plain Django function view that places the same
order as POST /api/v1/mp/orders (the same session check; the open shop of an open store, its SKU row, the guide
touch; the order, its line and first event written through the ORM in one transaction, the order-placed hooks, then
the conditional stock UPDATE last, as order_place does; the same answer: the order, its lines and first event) with
no DRF, no service layer and no serializers, so the cost of our own layers shows as its own ratio. The bench checks
that both answer the same fields."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from members.models import Member, Store
from members.mp_auth import SALT
from miniprograms import hooks
from miniprograms.models import GuideTouch, Order, OrderEvent, OrderLine, Shop, ShopSku


@csrf_exempt
def bare_order(request):
    token = request.headers["Authorization"].split()[1]
    session = signing.loads(token, salt=SALT, max_age=settings.EKR_MP_TOKEN_TTL_SECONDS)
    if session["s"] != request.tenant.schema_name:
        return JsonResponse({"error": "wrong brand"}, status=401)
    member = Member.objects.get(openid=session["o"])
    body = json.loads(request.body)
    item = body["items"][0]
    shop = Shop.objects.select_related("store").get(pk=body["shop_id"], is_open=True, store__status=Store.Status.OPEN)
    entry = ShopSku.objects.select_related("sku", "sku__product").get(shop=shop, sku_id=item["sku_id"], on_sale=True)
    quantity = int(item["quantity"])
    if entry.stock < quantity:
        return JsonResponse({"error": "out_of_stock"}, status=409)
    now = timezone.now()
    touch = (  # the guide the order is attributed to, as order_place reads it
        GuideTouch.objects.filter(
            member=member,
            touched_at__gte=now - timedelta(days=settings.MINIPROGRAMS_GUIDE_ATTRIBUTION_DAYS),
            touched_at__lte=now,
            guide__active=True,
        )
        .select_related("guide")
        .order_by("-touched_at", "-id")
        .first()
    )
    price = entry.price_fen if entry.price_fen is not None else entry.sku.price_fen
    try:
        with transaction.atomic():  # the writes, then the stock last (as order_place does), undone if it is short
            order, line, event = _bare_order_write(session, member, shop, entry, touch, quantity, price, now)
    except _OutOfStock:
        return JsonResponse({"error": "out_of_stock"}, status=409)
    return JsonResponse(_order_body(order, shop, line, event), status=201)


def _when(value):
    return timezone.localtime(value).isoformat() if value else None


def _order_body(order, shop, line, event) -> dict:
    """The body our endpoint answers (api.outputs.OrderOut: every field, the lines, the first event, no refunds)."""
    return {
        "id": order.pk,
        "number": order.number,
        "channel": order.channel,
        "status": order.status,
        "shop_id": order.shop_id,
        "store_code": shop.store.code,
        "subtotal_fen": order.subtotal_fen,
        "discount_fen": order.discount_fen,
        "total_fen": order.total_fen,
        "refunded_fen": order.refunded_fen,
        "coupon_id": order.coupon_id,
        "fulfilment": order.fulfilment,
        "fulfilment_status": order.fulfilment_status,
        "created_at": _when(order.created_at),
        "expires_at": _when(order.expires_at),
        "paid_at": _when(order.paid_at),
        "lines": [
            {
                "id": line.pk,
                "sku_id": line.sku_id,
                "sku_code": line.sku_code,
                "product_name": line.product_name,
                "attributes": line.attributes,
                "unit_price_fen": line.unit_price_fen,
                "quantity": line.quantity,
                "discount_fen": line.discount_fen,
                "total_fen": line.total_fen,
                "refunded_quantity": line.refunded_quantity,
            }
        ],
        "events": [{"status": event.status, "note": event.note, "created_at": _when(event.created_at)}],
        "refunds": [],
    }


class _OutOfStock(Exception):
    pass


def _bare_order_write(session, member, shop, entry, touch, quantity, price, now):
    """The order, its line and first event, the order-placed hooks, then the conditional stock UPDATE (short:
    _OutOfStock)."""
    order = Order.objects.create(
        number=f"{now:%y%m%d%H%M%S}{secrets.randbelow(10**10):010d}",
        shop=shop,
        store=shop.store,
        member=member,
        guide=touch.guide if touch else None,
        appid=session["a"],
        subtotal_fen=price * quantity,
        total_fen=price * quantity,
        created_at=now,
        expires_at=now + timedelta(minutes=settings.MINIPROGRAMS_UNPAID_ORDER_MINUTES),
    )
    line = OrderLine.objects.create(
        order=order,
        sku=entry.sku,
        shop_sku=entry,
        product_name=entry.sku.product.name,
        sku_code=entry.sku.code,
        unit_price_fen=price,
        quantity=quantity,
        total_fen=price * quantity,
    )
    event = OrderEvent.objects.create(order=order, status="placed")
    hooks.order_placed_notify(order)  # what the apps above learn of a new order (livestream: from a live room?)
    if not ShopSku.objects.filter(pk=entry.pk, stock__gte=quantity).update(stock=F("stock") - quantity):
        raise _OutOfStock
    return order, line, event


urlpatterns = [path("bench/bare/orders", bare_order), *tenant_urlpatterns]
