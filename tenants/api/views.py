from django.db import connection
from rest_framework import serializers
from rest_framework.response import Response

from core.views import PlatformOpsAPIView, PublicAPIView
from tenants.models import Brand


class HealthApi(PublicAPIView):
    """GET /api/v1/health: the database answers, and which schema this host is routed to."""

    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok", "schema": connection.schema_name})


class BrandListApi(PlatformOpsAPIView):
    """GET /api/v1/ops/brands: the brand registry, for the platform's ops staff."""

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Brand
            fields = ["id", "slug", "name", "industry", "status", "created_at"]

    def get(self, request):
        brands = Brand.objects.exclude(schema_name="public").order_by("slug")
        return Response(self.OutputSerializer(brands, many=True).data)
