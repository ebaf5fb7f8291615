from __future__ import annotations

from django.db import connection
from django.http import HttpResponse
from django_tenants.middleware.main import TenantMainMiddleware

from core.errors import json_error
from tenants.routing import brand_for_host


class BrandMiddleware(TenantMainMiddleware):
    """Routes by host: `<slug>.<EKR_BASE_DOMAIN>` to the brand's schema, the bare base domain to the platform.

    Unknown hosts get a JSON 404; a suspended brand a JSON 403 on the API and a plain page in the browser. The
    search_path is set once here for the whole request (TENANT_LIMIT_SET_CALLS).
    """

    def process_request(self, request):
        request._ekr_outer_tenant = getattr(connection, "tenant", None)
        connection.set_schema_to_public()
        hostname = request.get_host().split(":")[0].lower()
        if hostname.startswith("www."):
            hostname = hostname[4:]
        brand = brand_for_host(hostname)
        if brand is None:
            return json_error(404, "unknown_host", f"No brand is served at {hostname}.")
        if not brand.is_platform and not brand.is_active:
            if request.path.startswith(("/api/", "/wechat/")):
                return json_error(403, "brand_suspended", "This brand is suspended.")
            return HttpResponse(
                "<!doctype html><title>Suspended</title><h1>This brand is suspended</h1>"
                "<p>Contact the platform operator.</p>",
                status=403,
                content_type="text/html; charset=utf-8",
            )
        brand.domain_url = hostname
        request.tenant = brand
        connection.set_tenant(brand)
        self.setup_url_routing(request)

    def process_response(self, request, response):
        # Leave the connection as the request found it (public, in a server): nothing after the request
        # inherits this brand.
        outer = getattr(request, "_ekr_outer_tenant", None)
        if outer is None or outer.schema_name == "public":
            connection.set_schema_to_public()
        else:
            connection.set_tenant(outer)
        return response
