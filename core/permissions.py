"""Who may call what. Written once; views name a class from here and cannot skip the scope.

- `DenyAll` is the default: a view that forgets to say who may call it answers 403 to everybody.
- `IsPlatformOps`: staff users of the public schema, on the platform host only.
- `IsBrandStaff`: users of the brand's own schema (HQ staff or store managers), on that brand's host.
- `IsBrandHQ`: brand staff who are not tied to a franchisee.
- `IsMember`: a mini-program session token for this brand's host (see tenants.mp_auth).

A store manager's scope (their franchisee's stores) is resolved by `staff_scope(request)`, which list and detail
querysets go through (members.selectors.stores_for_scope and friends).
"""
from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from rest_framework.permissions import BasePermission

from django_tenants.utils import get_public_schema_name


class DenyAll(BasePermission):
    def has_permission(self, request, view):
        return False


def _on_brand_host() -> bool:
    return connection.schema_name != get_public_schema_name()


class IsPlatformOps(BasePermission):
    def has_permission(self, request, view):
        user = getattr(request, "user", None)
        return bool(
            not _on_brand_host() and user is not None and user.is_authenticated and user.is_staff and user.is_active
        )


class IsBrandStaff(BasePermission):
    def has_permission(self, request, view):
        user = getattr(request, "user", None)
        return bool(
            _on_brand_host() and user is not None and getattr(user, "is_authenticated", False)
            and not getattr(user, "is_member", False) and user.is_active
        )


@dataclass(frozen=True)
class StaffScope:
    """What a brand user may see: everything (HQ) or only one franchisee's stores."""

    user_id: int
    franchisee_id: int | None  # None: HQ, the whole brand

    @property
    def is_hq(self) -> bool:
        return self.franchisee_id is None


def staff_scope(request) -> StaffScope:
    """The scope of the brand user behind `request`. Store managers are tied to one franchisee."""
    cached = getattr(request, "_ekr_staff_scope", None)
    if cached is not None:
        return cached
    from members.models import StaffProfile

    profile = StaffProfile.objects.filter(user_id=request.user.id).only("franchisee_id").first()
    scope = StaffScope(user_id=request.user.id, franchisee_id=profile.franchisee_id if profile else None)
    request._ekr_staff_scope = scope
    return scope


class IsBrandHQ(IsBrandStaff):
    def has_permission(self, request, view):
        return super().has_permission(request, view) and staff_scope(request).is_hq


class IsMember(BasePermission):
    """A mini-program member authenticated by a session token issued on this brand's host."""

    def has_permission(self, request, view):
        return bool(_on_brand_host() and getattr(request.user, "is_member", False))
