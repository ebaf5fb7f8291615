"""URL pieces and error handlers both the platform and the brand hosts use."""

from django.conf import settings
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from core.api_tokens import ApiTokenListCreateApi, ApiTokenRevokeApi
from tenants.api.views import HealthApi


class HostSchemaView(SpectacularAPIView):
    """/api/schema/ of the host asked: the platform host documents the ops API, a brand host the brand's."""

    def _get_schema_response(self, request):
        self.urlconf = getattr(request, "urlconf", None) or settings.ROOT_URLCONF
        return super()._get_schema_response(request)


api_docs = [
    path("api/v1/health", HealthApi.as_view(), name="health"),
    path("api/v1/auth/tokens", ApiTokenListCreateApi.as_view(), name="api-tokens"),
    path("api/v1/auth/tokens/<int:token_id>/revoke", ApiTokenRevokeApi.as_view(), name="api-token-revoke"),
    path("api/schema/", HostSchemaView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

handler400 = "core.handlers.bad_request"
handler403 = "core.handlers.permission_denied"
handler404 = "core.handlers.not_found"
handler500 = "core.handlers.server_error"
