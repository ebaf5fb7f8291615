"""A shopping guide's own page: the orders attributed to them and their commission (nothing else)."""

from __future__ import annotations

from django.db.models import Sum

from console.selectors import keyset_page
from console.views.base import GuideView, int_or_none
from members.models import Guide
from miniprograms.models import CommissionEntry
from miniprograms.selectors import commissions_for_guide, orders_for_guide


class GuideHomeView(GuideView):
    def get(self, request):
        guide = Guide(pk=self.scope.guide_id)
        orders, next_before = keyset_page(
            orders_for_guide(guide).prefetch_related(None), before=int_or_none(request.GET.get("before"))
        )
        totals = {
            row["status"]: row["total"]
            for row in commissions_for_guide(guide).order_by().values("status").annotate(total=Sum("amount_fen"))
        }
        return self.page(
            "console/guide_home.html",
            orders=orders,
            next_before=next_before,
            commission_pending=totals.get(CommissionEntry.Status.PENDING, 0),
            commission_payable=totals.get(CommissionEntry.Status.PAYABLE, 0),
            commissions=commissions_for_guide(guide).order_by("-id")[:20],
        )
