from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from core.views import PlatformOpsAPIView, PublicAPIView
from tenants.models import Brand


class HealthOutput(serializers.Serializer):
    class Checks(serializers.Serializer):
        database = serializers.ChoiceField(choices=["ok", "down"])
        redis = serializers.ChoiceField(choices=["ok", "down"])

    status = serializers.ChoiceField(choices=["ok", "unavailable"])
    checks = Checks()
    schema = serializers.CharField(help_text="The schema this host is routed to.")


class HealthApi(PublicAPIView):
    """GET /api/v1/health: each dependency (database, redis) "ok" or "down", and the schema this host is routed
    to. 200 when all answer, 503 (with Retry-After) when one does not."""

    pagination_class = None

    @extend_schema(
        responses={
            200: HealthOutput,
            503: OpenApiResponse(HealthOutput, description="A dependency is down (not the error shape)."),
        }
    )
    def get(self, request):
        from django.conf import settings

        from core.redis_client import redis_client

        checks = {}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception:  # any failure to answer is "down"
            checks["database"] = "down"
        try:
            redis_client().ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "down"
        healthy = all(v == "ok" for v in checks.values())
        body = {"status": "ok" if healthy else "unavailable", "checks": checks, "schema": connection.schema_name}
        if healthy:
            return Response(body)
        return Response(body, status=503, headers={"Retry-After": str(settings.EKR_UNAVAILABLE_RETRY_AFTER_SECONDS)})


class BrandListApi(PlatformOpsAPIView):
    """GET /api/v1/ops/brands: the brand registry, for the platform's ops staff."""

    pagination_class = None  # the whole registry

    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = Brand
            fields = ["id", "slug", "name", "industry", "status", "created_at"]

    @extend_schema(responses=OutputSerializer(many=True))
    def get(self, request):
        brands = Brand.objects.exclude(schema_name="public").order_by("slug")
        return Response(self.OutputSerializer(brands, many=True).data)
