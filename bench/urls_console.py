"""Brand-host URLs for bench/console.py: the real ones plus bare views that render the same rows as the console's
dashboard, member list and order list, with no scope object, no selector layer and no base template: one query
each (the store ids of the franchisee are given in the query string) after the log-in check any page makes (session
and user), a minimal template."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.template import engines
from django.urls import path
from django.utils import timezone

from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from members.models import Member
from miniprograms.models import Order

_TEMPLATE = engines["django"].from_string(
    "{% load console %}<!doctype html><table>{% for r in rows %}<tr>{% for v in r %}<td>{{ v }}</td>{% endfor %}"
    "</tr>{% endfor %}</table>"
)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _stores(request) -> list[int]:
    """The store ids from the query string; like any page behind a log-in, the user is loaded (session, user)."""
    if not request.user.is_authenticated:
        raise PermissionError("log in first")
    return [int(s) for s in request.GET["stores"].split(",")]


def bare_dashboard(request):
    since = dt.datetime.combine(
        timezone.localtime(timezone.now(), SHANGHAI).date() - dt.timedelta(days=6), dt.time.min, tzinfo=SHANGHAI
    )
    rows = (
        Order.objects.filter(store_id__in=_stores(request), paid_at__gte=since, status__in=["paid", "refunding"])
        .annotate(day=TruncDate("paid_at", tzinfo=SHANGHAI))
        .values("day")
        .annotate(sales=Sum("total_fen"), n=Count("id"))
        .order_by("day")
        .values_list("day", "sales", "n")
    )
    return HttpResponse(_TEMPLATE.render({"rows": rows}))


def bare_members(request):
    rows = [
        (
            m.name,
            m.phone_masked,
            m.tier.name if m.tier_id else "",
            m.store.code,
            m.guide.name if m.guide_id else "",
            m.joined_at.date(),
        )
        for m in Member.objects.filter(store_id__in=_stores(request))
        .select_related("tier", "store", "guide")
        .order_by("-id")[:20]
    ]
    return HttpResponse(_TEMPLATE.render({"rows": rows}))


def bare_orders(request):
    rows = list(
        Order.objects.filter(store_id__in=_stores(request))
        .order_by("-id")
        .values_list("number", "store__code", "created_at", "status", "fulfilment_status", "total_fen")[:20]
    )
    return HttpResponse(_TEMPLATE.render({"rows": rows}))


urlpatterns = [
    path("bench/bare/dashboard", bare_dashboard),
    path("bench/bare/members", bare_members),
    path("bench/bare/orders", bare_orders),
    *tenant_urlpatterns,
]
