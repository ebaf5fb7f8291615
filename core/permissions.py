"""Who may call what. Written once; views name a class from here and cannot skip the scope.

- `DenyAll` is the default: a view that forgets to say who may call it answers 403 to everybody.
- `IsPlatformOps`: staff users of the public schema, on the platform host only.
- `IsBrandStaff`: users of the brand's own schema (HQ staff or store managers), on that brand's host.
- `IsBrandHQ`: brand users granted the HQ role (members.StaffProfile.role). Never inferred: a user without a
  profile, or whose guide link was cleared, has no scope at all and every staff view refuses them.
- `IsMember`: a mini-program session token for this brand's host (see members.mp_auth).
- `IsGuide`: a brand user who is a shopping guide (members.Guide.user). Guides are not staff: every staff
  view refuses them, and guide views show only what is attributed to them.

A store manager's scope (their franchisee's stores) is resolved by `staff_scope(request)`, which list and detail
querysets go through (members.selectors.stores_for_scope and friends).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django_tenants.utils import get_public_schema_name
from rest_framework.permissions import BasePermission


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


def _brand_user(request) -> bool:
    user = getattr(request, "user", None)
    return bool(
        _on_brand_host()
        and user is not None
        and getattr(user, "is_authenticated", False)
        and not getattr(user, "is_member", False)
        and user.is_active
    )


class IsBrandStaff(BasePermission):
    def has_permission(self, request, view):
        if not _brand_user(request):
            return False
        scope = staff_scope(request)
        return scope.is_hq or scope.is_store_manager


class IsGuide(BasePermission):
    def has_permission(self, request, view):
        return _brand_user(request) and staff_scope(request).is_guide


NO_FRANCHISEE = -1  # the franchisee id of a scope that sees no store: filters on it match nothing


@dataclass(frozen=True)
class StaffScope:
    """What a brand user may see: everything (HQ, an explicit grant), one franchisee's stores, or nothing."""

    user_id: int
    franchisee_id: int | None  # None only for HQ; NO_FRANCHISEE for a user without a grant
    guide_id: int | None = None  # a guide's own login: not staff at all
    # staff_scope() always says (from the HQ role on the profile); a scope built in code for a job leaves it None
    # and means HQ by franchisee_id None.
    hq: bool | None = None

    @property
    def is_guide(self) -> bool:
        return self.guide_id is not None

    @property
    def is_hq(self) -> bool:
        return self.hq is not False and self.franchisee_id is None and self.guide_id is None

    @property
    def is_store_manager(self) -> bool:
        return not self.is_hq and self.guide_id is None and self.franchisee_id not in (None, NO_FRANCHISEE)


# What a scope is read from: the user's staff profile (members.StaffProfile.user) and guide link (members.Guide.user).
SCOPE_FIELDS = ("staff_profile__franchisee_id", "staff_profile__role", "guide__id", "guide__active")
# core.tokens reads SCOPE_FIELDS in the token look-up and leaves them on the user here: the scope costs no query.
SCOPE_ROW_ATTR = "_ekr_scope_row"


def _scope_row(user) -> dict:
    """The scope's inputs: as loaded with the user's token (core.tokens), else one query."""
    row = getattr(user, SCOPE_ROW_ATTR, None)
    if row is not None:
        return row
    from django.contrib.auth import get_user_model

    # One query: the user's franchisee (store manager) and guide link, if any.
    return get_user_model().objects.filter(pk=user.id).values(*SCOPE_FIELDS).first() or {}


def staff_scope(request) -> StaffScope:
    """The scope of the brand user behind `request`: HQ only with the HQ role on the staff profile, a store manager
    with a franchisee, a guide with a guide link; anybody else sees nothing (default deny)."""
    cached = getattr(request, "_ekr_staff_scope", None)
    if cached is not None:
        return cached
    row = _scope_row(request.user)
    guide_id = row.get("guide__id")
    if guide_id is not None and not row.get("guide__active"):
        guide_id = -1  # an inactive guide's login: still not staff, and sees nothing
    franchisee_id = row.get("staff_profile__franchisee_id")
    hq = row.get("staff_profile__role") == "hq" and franchisee_id is None and guide_id is None
    if franchisee_id is None and not hq:
        franchisee_id = NO_FRANCHISEE
    scope = StaffScope(user_id=request.user.id, franchisee_id=franchisee_id, guide_id=guide_id, hq=hq)
    request._ekr_staff_scope = scope
    return scope


class IsBrandHQ(IsBrandStaff):
    message = "Only HQ staff may do this."

    def has_permission(self, request, view):
        return super().has_permission(request, view) and staff_scope(request).is_hq


class IsMember(BasePermission):
    """A mini-program member authenticated by a session token issued on this brand's host."""

    def has_permission(self, request, view):
        return bool(_on_brand_host() and getattr(request.user, "is_member", False))
