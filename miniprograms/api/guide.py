"""A shopping guide's own view (GuideAPIView): the orders attributed to them and their commission, nothing else."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from core.pagination import paginated_response
from core.views import GuideAPIView
from members.models import Guide
from miniprograms import selectors
from miniprograms.api.outputs import OrderOut


class CommissionOut(serializers.Serializer):
    id = serializers.IntegerField()
    order_number = serializers.CharField(source="order.number")
    store_id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    status = serializers.CharField()
    payable_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class _GuidePage(GuideAPIView):
    def page(self, queryset, serializer_class):
        return paginated_response(self, queryset, serializer_class)

    def guide(self) -> Guide:
        return Guide(pk=self.guide_id)


class GuideOrderListApi(_GuidePage):
    """GET /api/v1/guide/orders: orders attributed to the calling guide (buyers shown by order, not by person)."""

    @extend_schema(responses=OrderOut(many=True))
    def get(self, request):
        return self.page(selectors.orders_for_guide(self.guide()), OrderOut)


class GuideCommissionListApi(_GuidePage):
    """GET /api/v1/guide/commissions: the calling guide's commission ledger (pending, payable...)."""

    @extend_schema(responses=CommissionOut(many=True))
    def get(self, request):
        return self.page(selectors.commissions_for_guide(self.guide()).order_by("-id"), CommissionOut)
