"""Staff API (HQ) for member imports: create, upload chunks, start, watch progress, read the error report."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.views import BrandHQAPIView
from members.api.common import RawBytesParser
from members.models import MemberImport
from members.selectors import member_import_get
from members.services import member_import_chunk_add, member_import_create, member_import_start


class ImportOutput(serializers.ModelSerializer):
    class Meta:
        model = MemberImport
        fields = [
            "id",
            "filename",
            "encoding",
            "status",
            "size_bytes",
            "rows_processed",
            "rows_created",
            "rows_updated",
            "rows_failed",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]


class MemberImportListApi(BrandHQAPIView):
    """GET /api/v1/staff/member-imports; POST {filename, encoding} opens an import to upload chunks into."""

    class InputSerializer(serializers.Serializer):
        filename = serializers.CharField(max_length=200)
        encoding = serializers.ChoiceField(choices=MemberImport.Encoding.choices, default="utf-8")

    @extend_schema(responses=ImportOutput(many=True))
    def get(self, request):
        return self.paginated(MemberImport.objects.all(), ImportOutput)

    @extend_schema(responses={201: ImportOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        imp = member_import_create(created_by_id=request.user.id, **data.validated_data)
        return Response(ImportOutput(imp).data, status=201)


class MemberImportChunkApi(BrandHQAPIView):
    """PUT /api/v1/staff/member-imports/<id>/chunks/<seq>: chunk `seq` of the file as the raw body (under 1 MB)."""

    parser_classes = [RawBytesParser]

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses=ImportOutput,
    )
    def put(self, request, import_id, seq):
        imp = member_import_chunk_add(member_import=member_import_get(import_id), seq=seq, data=request.data)
        return Response(ImportOutput(imp).data)


class MemberImportStartApi(BrandHQAPIView):
    """POST /api/v1/staff/member-imports/<id>/start: every chunk is in; run it."""

    @extend_schema(request=None, responses={202: ImportOutput})
    def post(self, request, import_id):
        imp = member_import_start(member_import=member_import_get(import_id))
        return Response(ImportOutput(imp).data, status=202)


class MemberImportDetailApi(BrandHQAPIView):
    """GET /api/v1/staff/member-imports/<id>: status and progress."""

    @extend_schema(responses=ImportOutput)
    def get(self, request, import_id):
        return Response(ImportOutput(member_import_get(import_id)).data)


class MemberImportErrorsApi(BrandHQAPIView):
    """GET /api/v1/staff/member-imports/<id>/errors: one line per bad row (line number and what is wrong)."""

    class ErrorOutput(serializers.Serializer):
        row_number = serializers.IntegerField()
        message = serializers.CharField()

    @extend_schema(responses=ErrorOutput(many=True))
    def get(self, request, import_id):
        imp = member_import_get(import_id)
        return self.paginated(imp.errors.all(), self.ErrorOutput)
