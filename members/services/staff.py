"""Staff roles: HQ and store managers are explicit grants on members.StaffProfile (default deny)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from members.models import Franchisee, StaffProfile


@transaction.atomic
def staff_role_grant(*, user, role: str, franchisee: Franchisee | None = None) -> StaffProfile:
    """Give `user` a role: `hq` (the whole brand; no franchisee), `store_manager` (one franchisee) or `none`.
    Granting the same role again changes nothing."""
    if role == StaffProfile.Role.STORE_MANAGER and franchisee is None:
        raise ApplicationError(
            _("A store manager needs a franchisee."), code="franchisee_required", fields={"franchisee_id": ["required"]}
        )
    if role != StaffProfile.Role.STORE_MANAGER:
        franchisee = None
    profile, _created = StaffProfile.objects.select_for_update().get_or_create(user=user)
    profile.role, profile.franchisee = role, franchisee
    profile.full_clean()
    profile.save(update_fields=["role", "franchisee"])
    return profile


def brand_admin_hq_grant(user) -> None:
    """tenants' `brand_admin_created` hook: the brand's first admin is HQ."""
    staff_role_grant(user=user, role=StaffProfile.Role.HQ)
