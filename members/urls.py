from django.urls import path

from members.api import imports, staff, staff_members
from members.api.views import MeApi, MemberRegisterApi, MemberSessionStartApi

urlpatterns = [
    # mini-program
    path("mp/session", MemberSessionStartApi.as_view(), name="mp-session"),
    path("mp/members", MemberRegisterApi.as_view(), name="mp-members"),
    path("mp/me", MeApi.as_view(), name="mp-me"),
    # staff (HQ and store managers, scoped)
    path("staff/franchisees", staff.FranchiseeListApi.as_view(), name="staff-franchisees"),
    path("staff/stores", staff.StoreListApi.as_view(), name="staff-stores"),
    path("staff/stores/<int:store_id>", staff.StoreDetailApi.as_view(), name="staff-store"),
    path("staff/guides", staff.GuideListApi.as_view(), name="staff-guides"),
    path("staff/guides/<int:guide_id>", staff.GuideDetailApi.as_view(), name="staff-guide"),
    path("staff/guides/<int:guide_id>/move", staff.GuideMoveApi.as_view(), name="staff-guide-move"),
    path("staff/guides/<int:guide_id>/login", staff.GuideLoginApi.as_view(), name="staff-guide-login"),
    path(
        "staff/guides/<int:guide_id>/reassign-members",
        staff.GuideMembersReassignApi.as_view(),
        name="staff-guide-reassign",
    ),
    path("staff/members", staff_members.MemberSearchApi.as_view(), name="staff-members"),
    path("staff/members/<int:member_id>", staff_members.MemberDetailApi.as_view(), name="staff-member"),
    path(
        "staff/members/<int:member_id>/guide", staff_members.MemberGuideAssignApi.as_view(), name="staff-member-guide"
    ),
    path("staff/members/<int:member_id>/tier", staff_members.MemberTierSetApi.as_view(), name="staff-member-tier"),
    path("staff/tags", staff_members.TagListApi.as_view(), name="staff-tags"),
    path("staff/tags/<int:tag_id>/members", staff_members.TagMembersApi.as_view(), name="staff-tag-members"),
    path("staff/card-levels", staff_members.CardLevelListApi.as_view(), name="staff-card-levels"),
    path("staff/member-imports", imports.MemberImportListApi.as_view(), name="staff-imports"),
    path("staff/member-imports/<int:import_id>", imports.MemberImportDetailApi.as_view(), name="staff-import"),
    path(
        "staff/member-imports/<int:import_id>/chunks/<int:seq>",
        imports.MemberImportChunkApi.as_view(),
        name="staff-import-chunk",
    ),
    path(
        "staff/member-imports/<int:import_id>/start", imports.MemberImportStartApi.as_view(), name="staff-import-start"
    ),
    path(
        "staff/member-imports/<int:import_id>/errors",
        imports.MemberImportErrorsApi.as_view(),
        name="staff-import-errors",
    ),
]
