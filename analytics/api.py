"""Analytics API for brand staff: HQ sees the brand, a store manager their franchisee's stores (analytics.selectors
scopes every read). Figures in fen and counts in integers; rates as {"numerator", "denominator"}.

    GET /api/v1/console/analytics/figures?from&to&grain=day|week|month|range&by=brand|franchisee|store|guide
    GET /api/v1/console/analytics/figures.csv   (same parameters, a CSV file)
    GET /api/v1/console/analytics/brand?from&to&grain               (HQ)  and brand.csv
    GET /api/v1/console/analytics/historical-online?as_of&by=store|brand
    GET /api/v1/console/analytics/market?from&to                    (HQ)
    GET /api/v1/console/analytics/live?from&to&grain                (HQ and store managers: their shows)
"""

from __future__ import annotations

import csv
import io

from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from analytics import selectors
from core.views import BrandStaffAPIView


class RangeIn(serializers.Serializer):
    """?from=YYYY-MM-DD&to=YYYY-MM-DD&grain=day|week|month|range (named so in errors too)."""

    def get_fields(self):
        return {
            "from": serializers.DateField(),
            "to": serializers.DateField(),
            "grain": serializers.ChoiceField(choices=list(selectors.GRAINS), default="day"),
        }


class FiguresIn(RangeIn):
    def get_fields(self):
        return {**super().get_fields(), "by": serializers.ChoiceField(choices=list(selectors.BYS), default="brand")}


class FractionOut(serializers.Serializer):
    numerator = serializers.IntegerField()
    denominator = serializers.IntegerField()


def _int_fields(names):
    return {name: serializers.IntegerField() for name in names}


DERIVED = ("orders", "gmv_fen", "net_gmv_fen")

FigureRowOut = type(
    "FigureRowOut",
    (serializers.Serializer,),
    {
        "period": serializers.DateField(help_text="First day of the period (grain range: of the range)."),
        "key": serializers.IntegerField(
            allow_null=True, help_text="Franchisee, store or guide id; null for the brand."
        ),
        "name": serializers.CharField(),
        **_int_fields(selectors.SALES_SUMS + DERIVED),
        **{
            name: serializers.IntegerField(required=False, help_text="Not by guide.")
            for name in selectors.STORE_SUMS
            if name not in selectors.SALES_SUMS
        },
        "nonmember_join_rate": FractionOut(required=False, help_text="Not by guide."),
        "__doc__": "Gross sales count on the day paid and stay there; refunds count on the day they succeed; "
        "net_gmv_fen = gmv_fen - refunds_fen. By guide, only sales and new members.",
    },
)

BrandRowOut = type(
    "BrandRowOut",
    (serializers.Serializer,),
    {
        "period": serializers.DateField(),
        "as_of": serializers.DateField(help_text="Day of the snapshots."),
        **_int_fields(selectors.BRAND_FLOW_SUMS + selectors.SNAPSHOTS + DERIVED),
        "nonmember_join_rate": FractionOut(),
        "active_30d_rate": FractionOut(),
        "birthday_reward_rate": FractionOut(allow_null=True, help_text="Monthly grain only."),
    },
)


class FiguresOut(serializers.Serializer):
    rolled_up_at = serializers.DateTimeField(allow_null=True)
    results = FigureRowOut(many=True)


class BrandOut(serializers.Serializer):
    rolled_up_at = serializers.DateTimeField(allow_null=True)
    results = BrandRowOut(many=True)


def _params(serializer_class, request) -> dict:
    data = serializer_class(data=request.query_params)
    data.is_valid(raise_exception=True)
    values = dict(data.validated_data)
    if "from" in values:
        values["date_from"], values["date_to"] = values.pop("from"), values.pop("to")
    return values


def _csv(rows: list[dict], filename: str) -> HttpResponse:
    flat = []
    for row in rows:
        out = {}
        for key, value in row.items():
            if isinstance(value, dict):  # a fraction: two columns
                out[f"{key}_numerator"], out[f"{key}_denominator"] = value["numerator"], value["denominator"]
            elif value is not None:
                out[key] = value
        flat.append(out)
    buffer = io.StringIO()
    columns = list(dict.fromkeys(k for row in flat for k in row))
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    writer.writerows(flat)
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


RANGE_PARAMS = [
    {"name": "from", "required": True, "type": str, "description": "First day (YYYY-MM-DD, Asia/Shanghai)."},
    {"name": "to", "required": True, "type": str, "description": "Last day, included."},
    {"name": "grain", "required": False, "type": str, "enum": list(selectors.GRAINS)},
]


def _openapi_params(extra=()):
    from drf_spectacular.utils import OpenApiParameter

    return [
        OpenApiParameter(
            p["name"], p["type"], required=p["required"], description=p.get("description", ""), enum=p.get("enum")
        )
        for p in [*RANGE_PARAMS, *extra]
    ]


BY_PARAM = {"name": "by", "required": False, "type": str, "enum": list(selectors.BYS)}


class FiguresApi(BrandStaffAPIView):
    """Sales, new members and rates per period and per brand / franchisee / store / guide."""

    @extend_schema(parameters=_openapi_params([BY_PARAM]), responses=FiguresOut)
    def get(self, request):
        rows = selectors.sales_figures(scope=self.scope, **_params(FiguresIn, request))
        return Response(FiguresOut({"rolled_up_at": selectors.freshness()["rolled_up_at"], "results": rows}).data)


class FiguresCsvApi(BrandStaffAPIView):
    @extend_schema(parameters=_openapi_params([BY_PARAM]), responses={(200, "text/csv"): str})
    def get(self, request):
        params = _params(FiguresIn, request)
        rows = selectors.sales_figures(scope=self.scope, **params)
        return _csv(rows, f"figures-{params['by']}-{params['date_from']}-{params['date_to']}.csv")


class BrandFiguresApi(BrandStaffAPIView):
    """HQ: the brand's day, week or month: sales, members (snapshots as at the period's last day), points,
    coupons and the rights market."""

    @extend_schema(parameters=_openapi_params(), responses=BrandOut)
    def get(self, request):
        rows = selectors.brand_figures(scope=self.scope, **_params(RangeIn, request))
        return Response(BrandOut({"rolled_up_at": selectors.freshness()["rolled_up_at"], "results": rows}).data)


class BrandFiguresCsvApi(BrandStaffAPIView):
    @extend_schema(parameters=_openapi_params(), responses={(200, "text/csv"): str})
    def get(self, request):
        params = _params(RangeIn, request)
        rows = selectors.brand_figures(scope=self.scope, **params)
        return _csv(rows, f"brand-{params['date_from']}-{params['date_to']}.csv")


class HistoricalOnlineApi(BrandStaffAPIView):
    class InputSerializer(serializers.Serializer):
        as_of = serializers.DateField(required=False)
        by = serializers.ChoiceField(choices=["store", "brand"], default="store")

    class OutputSerializer(serializers.Serializer):
        key = serializers.IntegerField(allow_null=True)
        name = serializers.CharField()
        as_of = serializers.DateField()
        cumulative = FractionOut()
        month = FractionOut(help_text="Historical members first online in as_of's month / all of them at as_of.")

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer(many=True))
    def get(self, request):
        params = _params(self.InputSerializer, request)
        rows = selectors.historical_online(
            scope=self.scope, as_of=params.get("as_of") or timezone.localdate(), by=params["by"]
        )
        return Response({"results": self.OutputSerializer(rows, many=True).data})


class MarketOut(serializers.Serializer):
    class Accepting(serializers.Serializer):
        exchanges = serializers.IntegerField(help_text="Fulfilled exchanges by our members in the range.")
        points = serializers.IntegerField()
        roi = serializers.JSONField(help_text="rights_market.roi.roi_accepting (all time).")

    class Issuing(serializers.Serializer):
        exchanges = serializers.IntegerField(help_text="Fulfilled exchanges of our offers in the range.")
        settlement_fen = serializers.IntegerField()
        roi = serializers.JSONField(help_text="rights_market.roi.roi_issuer, per offer (all time).")

    as_accepting_brand = Accepting()
    as_issuer = Issuing()


class LiveOut(serializers.Serializer):
    available = serializers.BooleanField(help_text="False until the livestream app provides its metrics.")
    total = serializers.JSONField(required=False)
    periods = serializers.JSONField(help_text="Per period: livestream.metrics figures, rates as fractions.")
    rooms = serializers.JSONField(help_text="Per show.")


class MarketApi(BrandStaffAPIView):
    """HQ: rights-market exchanges in both directions, with the ROI figures."""

    @extend_schema(parameters=_openapi_params()[:2], responses=MarketOut)
    def get(self, request):
        params = _params(RangeIn, request)
        return Response(
            selectors.market_figures(scope=self.scope, date_from=params["date_from"], date_to=params["date_to"])
        )


class LiveApi(BrandStaffAPIView):
    """Live-stream metrics per show and per period (grain defaults to month); rates as fractions."""

    @extend_schema(parameters=_openapi_params(), responses=LiveOut)
    def get(self, request):
        params = _params(RangeIn, request)
        grain = request.query_params.get("grain") or "month"
        return Response(
            selectors.live_figures(
                scope=self.scope, date_from=params["date_from"], date_to=params["date_to"], grain=grain
            )
        )
