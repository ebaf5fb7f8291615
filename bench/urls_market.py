"""Brand-host URLs for bench/market.py: the real ones plus a plain Django function view that makes the same
redemption request as POST /api/v1/market/mp/exchanges (the same session check, reads and writes through the ORM,
the driver queued after commit) with no DRF, no service layer and no serializers, so the cost of our own layers on
the request shows as its own ratio."""

from __future__ import annotations

import json

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.http import JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from core.tasks import task_named
from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from members.models import Member
from members.mp_auth import SALT
from points.models import PointsAccount
from rights_market.models import Exchange, Listing, MemberTake


@csrf_exempt
def bare_redeem(request):
    token = request.headers["Authorization"].split()[1]
    session = signing.loads(token, salt=SALT, max_age=settings.EKR_MP_TOKEN_TTL_SECONDS)
    if session["s"] != request.tenant.schema_name:
        return JsonResponse({"error": "wrong brand"}, status=401)
    member = Member.objects.get(openid=session["o"])
    body = json.loads(request.body)
    existing = Exchange.objects.filter(
        accepting_brand=request.tenant, member_id=member.pk, request_key=body["request_key"]
    ).first()
    if existing is None:
        listing = Listing.objects.select_related("offer").get(pk=body["listing_id"], brand=request.tenant)
        offer = listing.offer
        taken = MemberTake.objects.filter(offer=offer, brand=request.tenant, member_id=member.pk).first()
        balance = PointsAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0
        if offer.remaining_stock <= 0 or (taken and taken.taken >= offer.per_member_limit):
            return JsonResponse({"error": "no"}, status=409)
        if balance < listing.points_price:
            return JsonResponse({"error": "points"}, status=409)
        now = timezone.now()
        existing = Exchange.objects.create(
            accepting_brand=request.tenant,
            issuer_id=offer.issuer_id,
            offer=offer,
            listing=listing,
            member_id=member.pk,
            request_key=body["request_key"],
            points=listing.points_price,
            settlement_price_fen=offer.settlement_price_fen,
            requested_at=now,
            updated_at=now,
        )
        exchange_id = existing.pk
        drive = task_named("rights_market.exchange_drive")
        transaction.on_commit(lambda: drive.apply_async(args=[exchange_id], schema="public"))
    data = {
        "id": existing.pk,
        "offer_id": existing.offer_id,
        "points": existing.points,
        "status": existing.status,
        "requested_at": existing.requested_at.isoformat(),
    }
    return JsonResponse(data, status=202)


urlpatterns = [path("bench/bare/market/redeem", bare_redeem), *tenant_urlpatterns]
