"""Brand-host URLs for bench/market.py: the real ones plus a plain Django function view that makes the same
redemption as POST /api/v1/market/mp/exchanges (the same session check, the same reads, and the same writes: the
member's debit with its entry and lot uses, the voucher in the issuer's schema, the exchange fulfilled, its clearing
line, the member's count and the offer's stock, in one transaction) through the ORM, with no DRF, no service layer
and no serializers, so the cost of our own layers on the request shows as its own ratio."""

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
from django_tenants.utils import schema_context

from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from members.models import Member
from members.mp_auth import SALT
from points.models import PointsAccount, PointsEntry, PointsLot, PointsLotUse
from rights_market.brandside.models import Voucher
from rights_market.models import ClearingLine, Exchange, Listing, MemberTake, Offer


@csrf_exempt
def bare_redeem(request):
    token = request.headers["Authorization"].split()[1]
    session = signing.loads(token, salt=SALT, max_age=settings.EKR_MP_TOKEN_TTL_SECONDS)
    if session["s"] != request.tenant.schema_name:
        return JsonResponse({"error": "wrong brand"}, status=401)
    member = Member.objects.get(openid=session["o"])
    body = json.loads(request.body)
    brand = request.tenant
    existing = Exchange.objects.filter(
        accepting_brand=brand, member_id=member.pk, request_key=body["request_key"]
    ).first()
    if existing is not None:
        return _answer(existing, 200)
    listing = Listing.objects.select_related("offer", "offer__issuer").get(pk=body["listing_id"], brand=brand)
    offer = listing.offer
    taken = MemberTake.objects.filter(offer=offer, brand=brand, member_id=member.pk).first()
    balance = PointsAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0
    if offer.remaining_stock <= 0 or (taken and taken.taken >= offer.per_member_limit):
        return JsonResponse({"error": "no"}, status=409)
    if balance < listing.points_price:
        return JsonResponse({"error": "points"}, status=409)
    now = timezone.now()
    price = listing.points_price
    code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(12))
    with transaction.atomic():
        account = PointsAccount.objects.select_for_update().get(member=member)
        if account.balance < price:
            transaction.set_rollback(True)
            return JsonResponse({"error": "points"}, status=409)
        account.balance -= price
        account.updated_at = now
        account.save(update_fields=["balance", "updated_at"])
        exchange = Exchange.objects.create(
            accepting_brand=brand,
            issuer_id=offer.issuer_id,
            offer=offer,
            listing=listing,
            member_id=member.pk,
            request_key=body["request_key"],
            points=price,
            settlement_price_fen=offer.settlement_price_fen,
            status=Exchange.Status.STOCK_TAKEN,
            requested_at=now,
            points_debited_at=now,
            stock_taken_at=now,
            fulfilment_code=code,
            updated_at=now,
        )
        entry = PointsEntry.objects.create(
            account=account,
            member=member,
            kind="redeem",
            amount=-price,
            balance_after=account.balance,
            idempotency_key=f"market-exchange-{exchange.pk}",
            fingerprint="-",
            reference=f"market:{exchange.pk}",
            reason="rights market exchange",
            created_at=now,
        )
        left = price
        for lot in (
            PointsLot.objects.select_for_update()
            .filter(account=account, remaining__gt=0)
            .order_by(F("expires_at").asc(nulls_last=True), "id")[:32]
        ):
            used = min(lot.remaining, left)
            PointsLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - used)
            PointsLotUse.objects.create(entry=entry, lot=lot, amount=used)
            left -= used
            if not left:
                break
        with schema_context(offer.issuer.schema_name):
            voucher = Voucher.objects.create(
                exchange_id=exchange.pk,
                offer_id=offer.pk,
                accepting_brand_id=brand.pk,
                code=code,
                title=offer.title,
                kind=offer.kind,
                face_value_fen=offer.face_value_fen,
                valid_until=now + timedelta(days=offer.voucher_valid_days),
                created_at=now,
            )
        exchange.status = Exchange.Status.FULFILLED
        Exchange.objects.filter(pk=exchange.pk).update(
            status=exchange.status, fulfilled_at=now, fulfilment_ref=f"voucher:{voucher.pk}"
        )
        ClearingLine.objects.create(
            exchange=exchange,
            payer_id=brand.pk,
            payee_id=offer.issuer_id,
            offer=offer,
            amount_fen=offer.settlement_price_fen,
            month=timezone.localdate(now).replace(day=1),
            created_at=now,
        )
        take, _ = MemberTake.objects.get_or_create(
            offer=offer, brand=brand, member_id=member.pk, defaults={"limit_at_take": offer.per_member_limit}
        )
        if not MemberTake.objects.filter(pk=take.pk, taken__lt=offer.per_member_limit).update(taken=F("taken") + 1):
            transaction.set_rollback(True)
            return JsonResponse({"error": "limit"}, status=409)
        if not Offer.objects.filter(pk=offer.pk, remaining_stock__gt=0).update(
            remaining_stock=F("remaining_stock") - 1, updated_at=now
        ):
            transaction.set_rollback(True)
            return JsonResponse({"error": "sold out"}, status=409)
    return _answer(exchange, 202)


def _answer(exchange, status: int) -> JsonResponse:
    data = {
        "id": exchange.pk,
        "offer_id": exchange.offer_id,
        "points": exchange.points,
        "status": exchange.status,
        "requested_at": exchange.requested_at.isoformat(),
    }
    return JsonResponse(data, status=status)


urlpatterns = [path("bench/bare/market/redeem", bare_redeem), *tenant_urlpatterns]
