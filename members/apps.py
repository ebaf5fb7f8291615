from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Members and stores"

    def ready(self):
        from members import openapi  # noqa: F401  (registers the member token scheme with drf-spectacular)
        from members.services.staff import brand_admin_hq_grant
        from tenants import hooks as tenant_hooks

        tenant_hooks.brand_admin_created_subscribe(brand_admin_hq_grant)
