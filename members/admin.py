"""The brand's HQ admin (core.admin_sites.brand_admin). Phones are shown masked, never in full in lists."""

from django.contrib import admin, messages

from core.admin_sites import brand_admin
from members.models import (
    CardLevel,
    CardTemplate,
    Franchisee,
    Guide,
    GuideAssignment,
    GuideStoreMove,
    Member,
    MemberImport,
    MemberImportError,
    StaffProfile,
    Store,
    Tag,
    TierChange,
)


@admin.register(Franchisee, site=brand_admin)
class FranchiseeAdmin(admin.ModelAdmin):
    list_display = ["name", "contact_name", "wechatpay_sub_mchid", "created_at"]
    search_fields = ["name"]


@admin.register(StaffProfile, site=brand_admin)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "franchisee"]
    list_filter = ["role"]
    list_select_related = ["user", "franchisee"]


@admin.register(Store, site=brand_admin)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "city", "region", "kind", "franchisee", "status", "opened_on"]
    list_filter = ["kind", "status", "city"]
    list_select_related = ["franchisee"]
    search_fields = ["code", "name"]


class GuideStoreMoveInline(admin.TabularInline):
    model = GuideStoreMove
    extra = 0
    readonly_fields = ["from_store", "to_store", "moved_at", "moved_by_id"]
    can_delete = False


@admin.register(Guide, site=brand_admin)
class GuideAdmin(admin.ModelAdmin):
    list_display = ["employee_no", "name", "phone_masked", "store", "active"]
    list_filter = ["active"]
    list_select_related = ["store"]
    search_fields = ["employee_no", "name"]
    exclude = ["phone"]
    readonly_fields = ["store"]
    inlines = [GuideStoreMoveInline]

    def has_add_permission(self, request):
        return False  # guides are added through the staff API (guide_create keeps the move history)


@admin.register(CardLevel, site=brand_admin)
class CardLevelAdmin(admin.ModelAdmin):
    list_display = ["rank", "name", "threshold_points", "threshold_spent_fen", "points_multiplier"]


@admin.register(CardTemplate, site=brand_admin)
class CardTemplateAdmin(admin.ModelAdmin):
    list_display = ["card_id", "title", "active"]


@admin.register(Tag, site=brand_admin)
class TagAdmin(admin.ModelAdmin):
    search_fields = ["name"]


class TierChangeInline(admin.TabularInline):
    model = TierChange
    extra = 0
    can_delete = False
    readonly_fields = ["from_level", "to_level", "kind", "reason", "created_at"]

    def has_add_permission(self, request, obj=None):
        return False


class GuideAssignmentInline(admin.TabularInline):
    model = GuideAssignment
    extra = 0
    can_delete = False
    readonly_fields = ["from_guide", "to_guide", "reason", "changed_at", "changed_by_id"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Member, site=brand_admin)
class MemberAdmin(admin.ModelAdmin):
    """Read mostly: changes of guide and tier go through the services (history), so they are read-only here."""

    list_display = [
        "id",
        "name",
        "phone_masked",
        "tier",
        "store",
        "guide",
        "join_channel",
        "joined_at",
        "card_state",
        "status",
    ]
    list_filter = ["status", "tier", "join_channel", "card_state"]
    list_select_related = ["tier", "store", "guide"]
    search_fields = ["=openid", "name"]
    show_full_result_count = False
    fields = [
        "name",
        "phone_masked",
        "gender",
        "birthday",
        "status",
        "openid",
        "unionid",
        "joined_at",
        "join_channel",
        "join_store",
        "join_guide",
        "store",
        "guide",
        "tier",
        "tier_since",
        "tier_review_at",
        "card_id",
        "card_code",
        "card_state",
        "card_activated_at",
    ]
    readonly_fields = [f for f in fields if f not in ("name", "gender", "status")]
    inlines = [TierChangeInline, GuideAssignmentInline]

    def has_add_permission(self, request):
        return False

    def get_search_results(self, request, queryset, search_term):
        """A phone number searches by its keyed hash (the column itself is encrypted)."""
        from members.selectors import phone_hash

        digits = "".join(c for c in search_term if c.isdigit())
        if len(digits) in (11, 13) and digits == search_term.replace(" ", "").replace("+", "").replace("-", ""):
            try:
                return queryset.filter(phone_hash=phone_hash(search_term)), False
            except ValueError:
                pass
        return super().get_search_results(request, queryset, search_term)


class MemberImportErrorInline(admin.TabularInline):
    model = MemberImportError
    extra = 0
    can_delete = False
    readonly_fields = ["row_number", "message"]
    max_num = 0


@admin.register(MemberImport, site=brand_admin)
class MemberImportAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "filename",
        "status",
        "rows_processed",
        "rows_created",
        "rows_updated",
        "rows_failed",
        "created_at",
        "finished_at",
    ]
    readonly_fields = [
        "filename",
        "encoding",
        "status",
        "size_bytes",
        "rows_processed",
        "rows_created",
        "rows_updated",
        "rows_failed",
        "error",
        "created_by_id",
        "started_at",
        "finished_at",
    ]
    inlines = [MemberImportErrorInline]
    actions = ["rerun"]

    def has_add_permission(self, request):
        return False  # uploads go through the staff API (chunked)

    @admin.action(description="Run again (updates members by phone, adds none twice)")
    def rerun(self, request, queryset):
        from members.services.imports import member_import_rerun

        for imp in queryset:
            member_import_rerun(member_import=imp)
        messages.info(request, f"{queryset.count()} import(s) queued again.")
