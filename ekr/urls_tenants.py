"""A brand's host (`<slug>.<EKR_BASE_DOMAIN>`): HQ admin, the web console, mini-program and staff APIs, WeChat
callbacks."""

from django.urls import include, path

from console.urls import i18n_urlpatterns as console_i18n
from core.admin_sites import brand_admin
from ekr.urls_common import api_docs, handler400, handler403, handler500  # noqa: F401

handler404 = "console.views.errors.not_found"  # the console's page under /console/, JSON elsewhere

urlpatterns = [
    # WeChat callbacks first: machine traffic, the most frequent path; other paths leave at the prefix
    path("wechat/", include("callbacks.urls")),
    path("admin/", brand_admin.urls),
    path("console/", include("console.urls")),
    *console_i18n,
    path("api/v1/", include("members.urls")),
    path("api/v1/", include("miniprograms.urls")),
    path("api/v1/", include("points.urls")),
    path("api/v1/", include("livestream.urls")),
    path("api/v1/", include("analytics.urls")),
    path("api/v1/market/", include("rights_market.urls")),
    *api_docs,
]
