"""Brand-host URLs for bench/members.py: the real ones plus a plain Django view of the staff phone look-up.

The plain view reads the same rows as `GET /api/v1/staff/members?phone=` through the ORM, with no DRF, no scope
object, no selector, no serializer and no pagination: the API token and its user (one query, hash compared), the
member by the phone's blind index with tier, store and guide joined, the member's tags; it answers the same JSON
fields with django's JsonResponse.
"""

from __future__ import annotations

import hmac

from django.http import JsonResponse
from django.urls import path
from django.utils import timezone

from core.crypto import keyed_hash
from core.models import ApiToken
from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from members.models import Member
from members.selectors import phone_hash


def plain_member_by_phone(request):
    _, _, raw = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    _, prefix, secret = raw.split("_", 2)
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.key_hash, keyed_hash(secret, purpose="api-token")):
        return JsonResponse({"error": "unauthorised"}, status=401)
    members = (
        Member.objects.select_related("tier", "store", "guide")
        .prefetch_related("tags")
        .filter(phone_hash=phone_hash(request.GET["phone"]))
        .order_by("-id")[:20]
    )
    results = [
        {
            "id": m.pk,
            "name": m.name,
            "phone": m.phone_masked,
            "gender": m.gender,
            "birthday": m.birthday,
            "status": m.status,
            "joined_at": timezone.localtime(m.joined_at),  # shown in Asia/Shanghai, as the API does
            "join_channel": m.join_channel,
            "tier": {"id": m.tier_id, "name": m.tier.name} if m.tier_id else None,
            "store": {"id": m.store_id, "code": m.store.code, "name": m.store.name} if m.store_id else None,
            "guide": {"id": m.guide_id, "name": m.guide.name} if m.guide_id else None,
            "tags": [t.name for t in m.tags.all()],
            "card_state": m.card_state,
        }
        for m in members
    ]
    return JsonResponse({"next": None, "previous": None, "results": results})


urlpatterns = [path("bench/plain/members", plain_member_by_phone), *tenant_urlpatterns]
