from django.db import connection
from rest_framework.response import Response

from core.views import PublicAPIView


class HealthApi(PublicAPIView):
    """GET /api/v1/health: the database answers, and which schema this host is routed to."""

    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"status": "ok", "schema": connection.schema_name})
