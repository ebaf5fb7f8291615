"""Platform ops on the platform host: every statement, marking one paid, exchanges needing attention."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.views import PlatformOpsAPIView
from rights_market.api.staff import StatementOutput
from rights_market.models import Exchange, Statement
from rights_market.services import settlement


class OpsStatementListApi(PlatformOpsAPIView):
    @extend_schema(responses=StatementOutput(many=True))
    def get(self, request):
        return self.paginated(
            Statement.objects.select_related("payer", "payee"), StatementOutput, ordering=("-month", "id")
        )


class OpsStatementPaidApi(PlatformOpsAPIView):
    @extend_schema(request=None, responses=StatementOutput)
    def post(self, request, statement_id: int):
        return Response(StatementOutput(settlement.statement_mark_paid(statement_id=statement_id)).data)


class OpsOpenExchangeListApi(PlatformOpsAPIView):
    """Exchanges not fulfilled or undone (what the sweeper is working on), oldest first. No member ids."""

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        accepting_brand_id = serializers.IntegerField()
        issuer_id = serializers.IntegerField()
        offer_id = serializers.IntegerField()
        status = serializers.CharField()
        attempts = serializers.IntegerField()
        last_error = serializers.CharField()
        updated_at = serializers.DateTimeField()

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        return self.paginated(
            Exchange.objects.exclude(status__in=Exchange.TERMINAL), self.OutputSerializer, ordering=("updated_at", "id")
        )
