from django.urls import path

from points.api.views import (
    MemberPointsApi,
    MemberPointsEntriesApi,
    StaffMemberPointsApi,
    StaffMemberPointsEntriesApi,
    StaffPointsAdjustApi,
    StaffPointsExportApi,
    StaffPointsPreviewApi,
)

urlpatterns = [
    path("mp/points", MemberPointsApi.as_view(), name="mp-points"),
    path("mp/points/entries", MemberPointsEntriesApi.as_view(), name="mp-points-entries"),
    path("staff/points/members/<int:member_id>", StaffMemberPointsApi.as_view(), name="staff-points-member"),
    path(
        "staff/points/members/<int:member_id>/entries",
        StaffMemberPointsEntriesApi.as_view(),
        name="staff-points-member-entries",
    ),
    path(
        "staff/points/members/<int:member_id>/adjustments", StaffPointsAdjustApi.as_view(), name="staff-points-adjust"
    ),
    path("staff/points/entries.csv", StaffPointsExportApi.as_view(), name="staff-points-export"),
    path("staff/points/preview", StaffPointsPreviewApi.as_view(), name="staff-points-preview"),
]
