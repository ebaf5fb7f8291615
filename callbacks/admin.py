"""The inbox in admin: all brands in the ops admin, a brand's own rows in its HQ admin. Read-only, with replay."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from callbacks.models import CallbackEvent
from callbacks.services import callbacks_replay
from core.admin_sites import ReadOnlyModelAdmin, brand_admin, ops_admin


class CallbackEventAdminBase(ReadOnlyModelAdmin):
    list_display = ["id", "kind", "status", "attempts", "appid", "received_at", "processed_at", "error_start"]
    list_filter = ["kind", "status"]
    search_fields = ["=appid", "dedup_key"]
    date_hierarchy = "received_at"
    actions = ["replay"]
    show_full_result_count = False
    fields = [
        "brand",
        "appid",
        "source",
        "kind",
        "status",
        "attempts",
        "dedup_key",
        "received_at",
        "queued_at",
        "started_at",
        "next_attempt_at",
        "processed_at",
        "remote_addr",
        "last_error_shown",
        "payload_shown",
        "raw",
    ]
    readonly_fields = fields

    @admin.display(description="error")
    def error_start(self, obj: CallbackEvent) -> str:
        return (obj.last_error.strip().splitlines() or [""])[-1][:120]

    @admin.display(description="last error")
    def last_error_shown(self, obj: CallbackEvent) -> str:
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", obj.last_error)

    @admin.display(description="payload")
    def payload_shown(self, obj: CallbackEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, ensure_ascii=False, indent=2))

    def replay_brand(self, request):
        return None

    @admin.action(description="Replay the selected callbacks (dead, failed or ignored)")
    def replay(self, request, queryset):
        ids = list(queryset.values_list("id", flat=True))
        count = callbacks_replay(event_ids=ids, brand=self.replay_brand(request))
        skipped = len(ids) - count
        messages.success(
            request,
            f"Queued {count} callback(s) again."
            + (f" {skipped} skipped (done, rejected or still in progress)." if skipped else ""),
        )


@admin.register(CallbackEvent, site=ops_admin)
class OpsCallbackEventAdmin(CallbackEventAdminBase):
    list_display = ["id", "brand", *CallbackEventAdminBase.list_display[1:]]
    list_filter = ["brand", "kind", "status"]
    list_select_related = ["brand"]


@admin.register(CallbackEvent, site=brand_admin)
class BrandCallbackEventAdmin(CallbackEventAdminBase):
    """A brand's HQ sees its own callbacks only (rows of the public inbox whose brand is the host's brand)."""

    fields = [f for f in CallbackEventAdminBase.fields if f not in ("brand", "raw", "remote_addr")]
    readonly_fields = fields

    def get_queryset(self, request):
        tenant = getattr(request, "tenant", None)
        queryset = super().get_queryset(request)
        if tenant is None or tenant.schema_name == "public":
            return queryset.none()
        return queryset.filter(brand_id=tenant.id)

    def replay_brand(self, request):
        return request.tenant
