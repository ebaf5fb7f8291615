"""Rights market URLs on the platform host, under /api/v1/ops/market/."""

from django.urls import path

from rights_market.api import ops

urlpatterns = [
    path("statements", ops.OpsStatementListApi.as_view(), name="ops-market-statements"),
    path("statements/<int:statement_id>/paid", ops.OpsStatementPaidApi.as_view(), name="ops-market-statement-paid"),
    path("exchanges/open", ops.OpsOpenExchangeListApi.as_view(), name="ops-market-open-exchanges"),
]
