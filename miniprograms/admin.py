"""The brand's HQ admin for the shops app: POS keys can be listed and revoked (never created or read back here)."""

from django.contrib import admin

from core.admin_sites import brand_admin
from miniprograms.models import PosApiKey
from miniprograms.services.pos import pos_api_key_revoke


@admin.register(PosApiKey, site=brand_admin)
class PosApiKeyAdmin(admin.ModelAdmin):
    list_display = ["prefix", "store", "label", "active", "created_at", "revoked_at"]
    list_filter = ["active"]
    list_select_related = ["store"]
    search_fields = ["prefix", "store__code", "label"]
    readonly_fields = [
        "store",
        "prefix",
        "label",
        "active",
        "created_at",
        "created_by_id",
        "revoked_at",
        "revoked_by_id",
    ]
    exclude = ["key_hash"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Revoke the selected POS keys")
    def revoke(self, request, queryset):
        for key in queryset.select_related("store"):
            pos_api_key_revoke(store=key.store, key_id=key.pk, revoked_by_id=request.user.id)
        self.message_user(request, f"{queryset.count()} key(s) revoked.")
