"""The platform host (the bare EKR_BASE_DOMAIN): ops admin and platform APIs."""

from django.urls import include, path

from core.admin_sites import ops_admin
from ekr.urls_common import api_docs, handler400, handler403, handler404, handler500  # noqa: F401

urlpatterns = [
    path("wechat/", include("callbacks.urls")),  # WeChat callbacks first (the most frequent path)
    path("admin/", ops_admin.urls),
    path("api/v1/ops/market/", include("rights_market.urls_ops")),
    path("api/v1/ops/", include("tenants.urls")),
    *api_docs,
]
