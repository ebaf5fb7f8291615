"""Dashboard: today / 7 / 30 days for the caller's stores (HQ: the brand, filterable by franchisee and store)."""

from __future__ import annotations

from django.utils import formats
from django.utils.translation import gettext as _

from console.charts import bar_chart
from console.selectors import PERIODS, DashboardFilter, analytics_panel, dashboard
from console.templatetags.console import yuan
from console.views.base import ConsoleView, int_or_none
from members.models import Franchisee
from members.selectors import stores_for_scope


class DashboardView(ConsoleView):
    def get(self, request):
        days = int_or_none(request.GET.get("days"))
        filters = DashboardFilter(
            days=days if days in PERIODS else 7,
            franchisee_id=int_or_none(request.GET.get("franchisee")) if self.scope.is_hq else None,
            store_id=int_or_none(request.GET.get("store")),
        )
        figures = dashboard(scope=self.scope, filters=filters)
        labels = [formats.date_format(d["day"], "n/j") for d in figures.days]
        chart = bar_chart(
            [d["sales_fen"] for d in figures.days],
            labels,
            [
                _("%(day)s: %(sales)s, %(orders)s orders")
                % {"day": label, "sales": yuan(d["sales_fen"]), "orders": d["orders"]}
                for label, d in zip(labels, figures.days, strict=True)
            ],
            line=[d["orders"] for d in figures.days],
        )
        members_chart = bar_chart(
            [d["new_members"] for d in figures.days],
            labels,
            [
                _("%(day)s: %(n)s new members") % {"day": label, "n": d["new_members"]}
                for label, d in zip(labels, figures.days, strict=True)
            ],
        )
        panel = analytics_panel(scope=self.scope, filters=filters, rows=figures.rows)
        gmv_chart = bar_chart(
            [d["gmv_member_fen"] + d["gmv_nonmember_fen"] for d in panel.days],
            labels,
            [
                _("%(day)s: members %(member)s, non-members %(other)s")
                % {"day": label, "member": yuan(d["gmv_member_fen"]), "other": yuan(d["gmv_nonmember_fen"])}
                for label, d in zip(labels, panel.days, strict=True)
            ],
            line=[d["gmv_member_fen"] for d in panel.days],
        )
        return self.page(
            "console/dashboard.html",
            section="dashboard",
            figures=figures,
            chart=chart,
            members_chart=members_chart,
            panel=panel,
            gmv_chart=gmv_chart,
            filters=filters,
            periods=PERIODS,
            stores=stores_for_scope(self.scope),
            franchisees=Franchisee.objects.all() if self.scope.is_hq else [],
        )
