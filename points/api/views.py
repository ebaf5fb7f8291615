"""Points API on a brand's host: the member's own points (mini-program) and the HQ console."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.db import connection
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_tenants.utils import schema_context
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from core.fields import BusinessDateTimeField
from core.pagination import paginated_response
from core.selectors import get_in_scope
from core.views import BrandHQAPIView, BrandStaffAPIView
from members.api.base import MemberAPIView
from points.models import Campaign, PointsEntry
from points.selectors import (
    member_for_staff,
    points_entries_in_period,
    points_entries_of_member,
    points_summary,
)
from points.services import OrderFacts, earning_preview, points_adjust
from points.services.expiry import SHANGHAI


class SummaryOutput(serializers.Serializer):
    class ExpiringLot(serializers.Serializer):
        expires_at = serializers.DateTimeField(default_timezone=SHANGHAI)
        points = serializers.IntegerField()

    balance = serializers.IntegerField()
    expiring_points = serializers.IntegerField()
    expiring_until = serializers.DateTimeField(default_timezone=SHANGHAI)
    expiring_lots = ExpiringLot(many=True)


class MemberEntryOutput(serializers.ModelSerializer):
    created_at = serializers.DateTimeField(default_timezone=SHANGHAI)

    class Meta:
        model = PointsEntry
        fields = ["id", "kind", "amount", "balance_after", "reason", "reference", "created_at"]


class StaffEntryOutput(serializers.ModelSerializer):
    created_at = serializers.DateTimeField(default_timezone=SHANGHAI)
    actor = serializers.CharField(source="actor.username", default=None)

    class Meta:
        model = PointsEntry
        fields = [
            "id",
            "kind",
            "amount",
            "balance_after",
            "shortfall",
            "reason",
            "reference",
            "idempotency_key",
            "actor",
            "created_at",
        ]


def _page(view, queryset, serializer_class) -> Response:
    return paginated_response(view, queryset, serializer_class)


# --- mini-program --------------------------------------------------------------------------------------------


class MemberPointsApi(MemberAPIView):
    """GET /api/v1/mp/points: my balance and what expires in the next 30 days."""

    @extend_schema(responses=SummaryOutput)
    def get(self, request):
        summary = points_summary(member=self.member_or_404(), now=timezone.now())
        return Response(SummaryOutput(summary).data)


class MemberPointsEntriesApi(MemberAPIView):
    """GET /api/v1/mp/points/entries: my entries, newest first, in cursor pages."""

    @extend_schema(responses=MemberEntryOutput(many=True))
    def get(self, request):
        return _page(self, points_entries_of_member(member=self.member_or_404()), MemberEntryOutput)


# --- HQ console ----------------------------------------------------------------------------------------------
# Reading a ledger: HQ, or the store manager of the member's franchisee. Changing it: HQ only.


class StaffMemberPointsApi(BrandStaffAPIView):
    """GET /api/v1/staff/points/members/<id>: a member's balance and what expires soon."""

    @extend_schema(responses=SummaryOutput)
    def get(self, request, member_id: int):
        member = member_for_staff(scope=self.scope, member_id=member_id)
        return Response(SummaryOutput(points_summary(member=member, now=timezone.now())).data)


class StaffMemberPointsEntriesApi(BrandStaffAPIView):
    """GET /api/v1/staff/points/members/<id>/entries: a member's ledger, newest first."""

    @extend_schema(responses=StaffEntryOutput(many=True))
    def get(self, request, member_id: int):
        member = member_for_staff(scope=self.scope, member_id=member_id)
        return _page(self, points_entries_of_member(member=member).select_related("actor"), StaffEntryOutput)


class StaffPointsAdjustApi(BrandHQAPIView):
    """POST /api/v1/staff/points/members/<id>/adjustments: a manual correction, audited (who, when, why).

    201 with the entry; the same idempotency_key again answers 200 with the same entry.
    """

    class InputSerializer(serializers.Serializer):
        points = serializers.IntegerField(min_value=-100_000_000, max_value=100_000_000)
        reason = serializers.CharField(max_length=200)
        idempotency_key = serializers.RegexField(r"^[A-Za-z0-9._:-]{8,100}$")

    @extend_schema(responses={201: StaffEntryOutput, 200: StaffEntryOutput})
    def post(self, request, member_id: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        member = member_for_staff(scope=self.scope, member_id=member_id)
        entry = points_adjust(
            member=member,
            points=data.validated_data["points"],
            reason=data.validated_data["reason"],
            actor=request.user,
            idempotency_key=f"staff-adjust:{data.validated_data['idempotency_key']}",
        )
        code = status.HTTP_200_OK if entry.replayed else status.HTTP_201_CREATED
        entry = PointsEntry.objects.select_related("actor").get(pk=entry.pk)
        return Response(StaffEntryOutput(entry).data, status=code)


class StaffPointsExportApi(BrandHQAPIView):
    """GET /api/v1/staff/points/entries.csv?start=YYYY-MM-DD&end=YYYY-MM-DD: a period's entries (Asia/Shanghai
    dates, both included), streamed as CSV, oldest first."""

    class FilterSerializer(serializers.Serializer):
        start = serializers.DateField()
        end = serializers.DateField()

    COLUMNS = [
        "id",
        "created_at",
        "member_id",
        "kind",
        "amount",
        "balance_after",
        "shortfall",
        "reference",
        "reason",
        "actor",
        "idempotency_key",
    ]

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        data = self.FilterSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        entries = points_entries_in_period(
            scope=self.scope, first_day=data.validated_data["start"], last_day=data.validated_data["end"]
        )
        filename = f"points-{data.validated_data['start']}-{data.validated_data['end']}.csv"
        response = StreamingHttpResponse(
            _csv_rows(entries, self.COLUMNS, connection.schema_name), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


class _Line:
    def write(self, value: str) -> str:
        return value


def _cell(value) -> str:
    """Text as a spreadsheet shows it: a leading =, +, -, @ is quoted so it is never run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(entries, columns: list[str], schema: str) -> Iterator[str]:
    writer = csv.writer(_Line())
    yield "\ufeff" + writer.writerow(columns)  # BOM: Excel opens UTF-8 (Chinese reasons) correctly
    with schema_context(schema):  # streamed after the view returned: name the brand's schema again
        for entry in entries.iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    entry.id,
                    timezone.localtime(entry.created_at, SHANGHAI).isoformat(),
                    entry.member_id,
                    entry.kind,
                    entry.amount,
                    entry.balance_after,
                    entry.shortfall,
                    _cell(entry.reference),
                    _cell(entry.reason),
                    _cell(entry.actor.username if entry.actor else ""),
                    _cell(entry.idempotency_key),
                ]
            )


class StaffPointsPreviewApi(BrandHQAPIView):
    """POST /api/v1/staff/points/preview: what a sample order earns now and with a rule not yet switched on
    (an inactive campaign, and/or new rates)."""

    class InputSerializer(serializers.Serializer):
        paid_fen = serializers.IntegerField(min_value=0, max_value=10**10)
        paid_at = BusinessDateTimeField()
        store_code = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)
        tier_code = serializers.CharField(max_length=32, required=False, allow_null=True, default=None)
        tier_multiplier_pct = serializers.IntegerField(min_value=0, max_value=10_000, default=100)
        birthday_month = serializers.IntegerField(
            min_value=1, max_value=12, required=False, allow_null=True, default=None
        )
        campaign_id = serializers.IntegerField(required=False, allow_null=True, default=None)
        policy_changes = serializers.DictField(
            child=serializers.IntegerField(min_value=0, max_value=100_000), required=False, default=dict
        )

    class OutputSerializer(serializers.Serializer):
        class Breakdown(serializers.Serializer):
            points = serializers.IntegerField()
            points_per_yuan_pct = serializers.IntegerField()
            rate_source = serializers.CharField()
            tier_multiplier_pct = serializers.IntegerField()
            campaign_multiplier_pct = serializers.IntegerField()
            campaign_id = serializers.IntegerField(allow_null=True)
            birthday_multiplier_pct = serializers.IntegerField()
            rounding = serializers.CharField()

        current = Breakdown()
        proposed = Breakdown()

    @extend_schema(responses=OutputSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        campaign_id = values.pop("campaign_id")
        policy_changes = values.pop("policy_changes")
        campaign = (
            None
            if campaign_id is None
            else get_in_scope(Campaign.objects.all(), campaign_id, "campaign", code="campaign_not_found")
        )
        preview = earning_preview(order=OrderFacts(**values), campaign=campaign, policy_changes=policy_changes)
        return Response(self.OutputSerializer(preview).data)
