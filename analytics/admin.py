"""HQ admin: the analytics dashboard (charts from the rollups, through analytics.selectors like the API), and the
brand's analytics settings. Rollup rows are never edited by hand."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from analytics import selectors
from analytics.models import AnalyticsSettings, BrandDay
from core.admin_sites import ReadOnlyModelAdmin, brand_admin
from core.errors import ApplicationError
from core.permissions import staff_scope

TOP_STORES = 20


def _dashboard_range(request) -> tuple[dt.date, dt.date, str]:
    today = timezone.localdate()
    date_to = parse_date(request.GET.get("to", "") or "") or today
    date_from = parse_date(request.GET.get("from", "") or "") or (date_to - dt.timedelta(days=29))
    grain = request.GET.get("grain") if request.GET.get("grain") in selectors.GRAINS else "day"
    return date_from, date_to, grain


def _percent(fraction: dict | None) -> float | None:
    if not fraction or not fraction["denominator"]:
        return None
    return round(100 * fraction["numerator"] / fraction["denominator"], 1)


@admin.register(BrandDay, site=brand_admin)
class DashboardAdmin(ReadOnlyModelAdmin):
    """The changelist of BrandDay is the dashboard."""

    def changelist_view(self, request, extra_context=None):
        scope = staff_scope(request)
        date_from, date_to, grain = _dashboard_range(request)
        error = None
        series, stores, historical = [], [], []
        try:
            series = selectors.brand_figures(scope=scope, date_from=date_from, date_to=date_to, grain=grain)
            stores = selectors.sales_figures(
                scope=scope, date_from=date_from, date_to=date_to, grain="range", by="store"
            )
            historical = selectors.historical_online(scope=scope, as_of=date_to, by="brand")
        except ApplicationError as exc:
            error = "; ".join(f"{k}: {', '.join(v)}" for k, v in (exc.fields or {}).items()) or exc.message
        totals: dict[int, dict] = {}
        for row in stores:  # one row per store over the range
            t = totals.setdefault(
                row["key"],
                {
                    "name": row["name"],
                    "gmv_fen": 0,
                    "net_gmv_fen": 0,
                    "orders": 0,
                    "joined": 0,
                    "buyers": 0,
                    "new_members": 0,
                },
            )
            t["gmv_fen"] += row["gmv_fen"]
            t["net_gmv_fen"] += row["net_gmv_fen"]
            t["orders"] += row["orders"]
            t["new_members"] += row["new_members"]
            t["joined"] += row["nonmember_buyers_joined"]
            t["buyers"] += row["nonmember_buyers"]
        top = sorted(totals.values(), key=lambda t: -t["gmv_fen"])[:TOP_STORES]
        for t in top:
            t["join_rate"] = _percent({"numerator": t["joined"], "denominator": t["buyers"]})
        chart = {
            "labels": [str(r["period"]) for r in series],
            "gmv_online": [r["gmv_online_fen"] / 100 for r in series],
            "gmv_pos": [r["gmv_pos_fen"] / 100 for r in series],
            "refunds": [r["refunds_fen"] / 100 for r in series],
            "net": [r["net_gmv_fen"] / 100 for r in series],
            "orders_member": [r["orders_member"] for r in series],
            "orders_nonmember": [r["orders_nonmember"] for r in series],
            "new_by_channel": {
                label: [r[column] for r in series]
                for label, column in (
                    (_("Mini-program"), "new_mini_program"),
                    (_("Store counter"), "new_store_counter"),
                    (_("Store code"), "new_store_qr"),
                    (_("Guide"), "new_guide_share"),
                    (_("Live room"), "new_live_stream"),
                    (_("Rights market"), "new_rights_market"),
                    (_("Member card"), "new_card"),
                    (_("Import"), "new_import"),
                )
            },
            "active_30d": [r["active_30d"] for r in series],
            "active_90d": [r["active_90d"] for r in series],
            "churned": [r["churned"] for r in series],
            "join_rate": [_percent(r["nonmember_join_rate"]) for r in series],
            "points_earned": [r["points_earned"] for r in series],
            "points_redeemed": [r["points_redeemed"] for r in series],
            "labels_i18n": {
                "online": _("Online (¥)"),
                "pos": _("In store (¥)"),
                "refunds": _("Refunds (¥)"),
                "net": _("Net (¥)"),
                "member": _("Member orders"),
                "nonmember": _("Non-member orders"),
                "active30": _("Active 30 days"),
                "active90": _("Active 90 days"),
                "churned": _("Churned"),
                "join_rate": _("Non-member join rate (%)"),
                "earned": _("Points earned"),
                "redeemed": _("Points redeemed"),
            },
        }
        last = series[-1] if series else None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Analytics"),
            "opts": self.model._meta,
            "error": error,
            "date_from": date_from,
            "date_to": date_to,
            "grain": grain,
            "grains": list(selectors.GRAINS),
            "chart": chart,
            "last": last,
            "top_stores": top,
            "freshness": selectors.freshness(),
            "historical": historical[0] if historical else None,
            "historical_pct": _percent(historical[0]["cumulative"]) if historical else None,
            "join_pct": _percent(
                {
                    "numerator": sum(r["nonmember_buyers_joined"] for r in series),
                    "denominator": sum(r["nonmember_buyers"] for r in series),
                }
            ),
            "totals": {
                k: sum(r[k] for r in series) for k in ("gmv_fen", "net_gmv_fen", "refunds_fen", "orders", "new_members")
            },
        }
        return TemplateResponse(request, "analytics/admin/dashboard.html", context)


@admin.register(AnalyticsSettings, site=brand_admin)
class AnalyticsSettingsAdmin(admin.ModelAdmin):
    list_display = ["churn_lookback_days", "churn_quiet_days", "recompute_days"]

    def has_add_permission(self, request):
        return not AnalyticsSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
