"""Two admin sites: the platform's ops admin (public host) and each brand's HQ admin (brand hosts).

They are separate registries so that a public model (the brand registry, WeChat apps) can never appear in a
brand's admin, and a brand model never in the ops admin.
"""

from django.contrib.admin import AdminSite, ModelAdmin
from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class OpsAdminSite(AdminSite):
    site_header = gettext_lazy("ekr platform operations")
    site_title = gettext_lazy("ekr ops")

    def has_permission(self, request):
        return connection.schema_name == "public" and super().has_permission(request)


class BrandAdminSite(AdminSite):
    site_header = gettext_lazy("ekr brand HQ")
    site_title = gettext_lazy("ekr HQ")

    def has_permission(self, request):
        if connection.schema_name == "public" or not super().has_permission(request):
            return False
        # Only HQ: store managers use the store console, guides their own pages.
        from core.permissions import staff_scope

        return staff_scope(request).is_hq

    def each_context(self, request):
        context = super().each_context(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            context["site_header"] = _("%(brand)s · HQ") % {"brand": tenant.name}
        return context


ops_admin = OpsAdminSite(name="ops_admin")
brand_admin = BrandAdminSite(name="brand_admin")


class ReadOnlyModelAdmin(ModelAdmin):
    """For rows that change only through services (ledgers, inboxes, exchanges): view, never edit in admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
