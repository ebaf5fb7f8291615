"""Commission payouts: HQ drafts a month, approves and pays each guide's payout (console); a guide reads their own
statements (guide login)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.errors import NotFound
from core.openapi import error
from core.pagination import paginated_response
from core.views import BrandHQAPIView, GuideAPIView
from members.models import Guide
from miniprograms.models import CommissionPayout
from miniprograms.services.payouts import (
    commission_payout_approve,
    commission_payout_pay,
    commission_payouts_prepare,
    payouts_for_guide,
)


class PayoutEntryOut(serializers.Serializer):
    order_number = serializers.CharField(source="order.number")
    amount_fen = serializers.IntegerField()
    reversed_fen = serializers.IntegerField()


class PayoutClawbackOut(serializers.Serializer):
    entry_id = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class PayoutOut(serializers.Serializer):
    id = serializers.IntegerField()
    guide_id = serializers.IntegerField()
    month = serializers.DateField(format="%Y-%m")
    number = serializers.CharField()
    commission_fen = serializers.IntegerField()
    clawback_fen = serializers.IntegerField()
    amount_fen = serializers.IntegerField()
    status = serializers.CharField()
    method = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()
    transfer_out_bill_no = serializers.SerializerMethodField()
    transfer_state = serializers.CharField(help_text="WeChat's state of the 商家转账 bill; blank when none was sent.")

    def get_transfer_out_bill_no(self, payout) -> str:
        return payout.out_bill_no if payout.transfer_attempt else ""


class PayoutStatementOut(PayoutOut):
    entries = PayoutEntryOut(many=True)
    clawbacks = PayoutClawbackOut(many=True)
    transfer_package_info = serializers.CharField(
        help_text="While WAIT_USER_CONFIRM: the package for wx.requestMerchantTransfer, to confirm receipt."
    )


def _payout(payout_id: int) -> CommissionPayout:
    payout = CommissionPayout.objects.filter(pk=payout_id).first()
    if payout is None:
        raise NotFound("No such payout.", code="payout_not_found")
    return payout


class PayoutListPrepareApi(BrandHQAPIView):
    """GET /api/v1/console/commission-payouts: all payouts. POST {month: "YYYY-MM-01"}: draft that month's."""

    class InputSerializer(serializers.Serializer):
        month = serializers.DateField()

    class OutputSerializer(serializers.Serializer):
        results = PayoutOut(many=True, help_text="The payouts drafted now.")

    @extend_schema(responses=PayoutOut(many=True))
    def get(self, request):
        return paginated_response(self, CommissionPayout.objects.order_by("-id"), PayoutOut)

    @extend_schema(responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = commission_payouts_prepare(month=data.validated_data["month"])
        return Response({"results": PayoutOut(made, many=True).data}, status=status.HTTP_201_CREATED)


class PayoutApproveApi(BrandHQAPIView):
    @extend_schema(request=None, responses=PayoutOut)
    def post(self, request, payout_id: int):
        return Response(PayoutOut(commission_payout_approve(payout=_payout(payout_id), actor_id=request.user.id)).data)


class PayoutPayApi(BrandHQAPIView):
    """POST /api/v1/console/commission-payouts/<id>/pay {method: wechat|offline}"""

    class InputSerializer(serializers.Serializer):
        method = serializers.ChoiceField(choices=CommissionPayout.Method.choices)

    @extend_schema(responses={200: PayoutOut, 502: error("WeChat Pay did not answer or refused the transfer.")})
    def post(self, request, payout_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        payout = commission_payout_pay(
            payout=_payout(payout_id), actor_id=request.user.id, method=data.validated_data["method"]
        )
        return Response(PayoutOut(payout).data)


class GuidePayoutListApi(GuideAPIView):
    """GET /api/v1/guide/payouts: the calling guide's statements, with the commission and clawbacks in each."""

    @extend_schema(responses=PayoutStatementOut(many=True))
    def get(self, request):
        return paginated_response(self, payouts_for_guide(Guide(pk=self.guide_id)), PayoutStatementOut)
