from django.contrib import admin

from core.admin_sites import brand_admin
from members.models import Franchisee, Member, StaffProfile


@admin.register(Franchisee, site=brand_admin)
class FranchiseeAdmin(admin.ModelAdmin):
    list_display = ["name", "contact_name", "created_at"]
    search_fields = ["name"]


@admin.register(StaffProfile, site=brand_admin)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "franchisee"]
    list_select_related = ["user", "franchisee"]


@admin.register(Member, site=brand_admin)
class MemberAdmin(admin.ModelAdmin):
    list_display = ["id", "openid", "status", "joined_at"]
    search_fields = ["openid"]
