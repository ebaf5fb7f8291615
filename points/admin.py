"""HQ admin: earning rules are edited here; the ledger is read-only (changes go through points.services)."""

from django.contrib import admin

from core.admin_sites import ReadOnlyModelAdmin, brand_admin
from points.models import Campaign, PointsAccount, PointsEntry, PointsPolicy, StoreEarnRate


@admin.register(PointsEntry, site=brand_admin)
class PointsEntryAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "created_at",
        "member_id",
        "kind",
        "amount",
        "balance_after",
        "shortfall",
        "reference",
        "reason",
        "actor",
    ]
    list_filter = ["kind"]
    search_fields = ["reference", "idempotency_key"]
    list_select_related = ["actor"]
    show_full_result_count = False


@admin.register(PointsAccount, site=brand_admin)
class PointsAccountAdmin(ReadOnlyModelAdmin):
    list_display = ["member_id", "balance", "updated_at"]
    show_full_result_count = False


@admin.register(PointsPolicy, site=brand_admin)
class PointsPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "points_per_yuan_pct",
        "expiry_mode",
        "expiry_months",
        "signup_bonus_points",
        "birthday_month_multiplier_pct",
        "updated_at",
    ]

    def has_add_permission(self, request):
        return not PointsPolicy.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1
        super().save_model(request, obj, form, change)


@admin.register(StoreEarnRate, site=brand_admin)
class StoreEarnRateAdmin(admin.ModelAdmin):
    list_display = ["store_code", "points_per_yuan_pct"]
    search_fields = ["store_code"]


@admin.register(Campaign, site=brand_admin)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "multiplier_pct", "starts_on", "ends_on", "store_codes", "tier_codes", "is_active"]
    list_filter = ["is_active"]
