"""Writes about franchisees, stores and guides."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from members.models import Franchisee, Guide, GuideStoreMove, Store

STORE_EDITABLE = ("name", "city", "region", "address", "status", "opened_on")
STORE_HQ_ONLY = ("kind", "franchisee")


@transaction.atomic
def franchisee_create(*, name: str, contact_name: str = "") -> Franchisee:
    franchisee = Franchisee(name=name, contact_name=contact_name)
    franchisee.full_clean()
    franchisee.save()
    return franchisee


@transaction.atomic
def store_create(
    *,
    code: str,
    name: str,
    kind: str = Store.Kind.DIRECT,
    franchisee: Franchisee | None = None,
    city: str = "",
    region: str = "",
    address: str = "",
    status: str = Store.Status.OPEN,
    opened_on: dt.date | None = None,
) -> Store:
    """A new store. The code is unique in the brand (409 if taken)."""
    if Store.objects.filter(code=code).exists():
        raise Conflict(
            _("Store code '%(code)s' is taken."),
            params={"code": code},
            code="store_code_taken",
            fields={"code": ["taken"]},
        )
    store = Store(
        code=code,
        name=name,
        kind=kind,
        franchisee=franchisee,
        city=city,
        region=region,
        address=address,
        status=status,
        opened_on=opened_on,
    )
    store.full_clean(validate_constraints=True)
    try:
        with transaction.atomic():
            store.save()
    except IntegrityError as exc:  # a concurrent create with the same code
        raise Conflict(
            _("Store code '%(code)s' is taken."),
            params={"code": code},
            code="store_code_taken",
            fields={"code": ["taken"]},
        ) from exc
    return store


@transaction.atomic
def store_update(*, store: Store, hq: bool, **changes) -> Store:
    """Edit a store. Store managers may edit the day-to-day fields; kind and franchisee are HQ's."""
    allowed = STORE_EDITABLE + (STORE_HQ_ONLY if hq else ())
    refused = [k for k in changes if k not in allowed]
    if refused:
        raise ApplicationError(
            _("Only HQ may change these fields."),
            code="permission_denied",
            status_code=403,
            fields={k: ["HQ only"] for k in refused},
        )
    store = Store.objects.select_for_update().get(pk=store.pk)
    for key, value in changes.items():
        setattr(store, key, value)
    store.full_clean(validate_constraints=True)
    store.save(update_fields=list(changes))
    return store


@transaction.atomic
def guide_create(
    *, store: Store, name: str, employee_no: str, phone: str = "", active: bool = True, created_by_id: int | None = None
) -> Guide:
    if Guide.objects.filter(employee_no=employee_no).exists():
        raise Conflict(
            _("Employee number '%(employee_no)s' is taken."),
            params={"employee_no": employee_no},
            code="employee_no_taken",
            fields={"employee_no": ["taken"]},
        )
    guide = Guide(store=store, name=name, employee_no=employee_no, phone=phone, active=active)
    guide.full_clean()
    guide.save()
    GuideStoreMove.objects.create(guide=guide, from_store=None, to_store=store, moved_by_id=created_by_id)
    return guide


@transaction.atomic
def guide_update(*, guide: Guide, **changes) -> Guide:
    allowed = {"name", "phone", "active"}
    refused = [k for k in changes if k not in allowed]
    if refused:
        raise ApplicationError(_("These fields cannot be edited here."), fields={k: ["not editable"] for k in refused})
    guide = Guide.objects.select_for_update().get(pk=guide.pk)
    for key, value in changes.items():
        setattr(guide, key, value)
    guide.full_clean()
    guide.save(update_fields=list(changes))
    return guide


@transaction.atomic
def guide_move(*, guide: Guide, to_store: Store, moved_by_id: int | None = None, members_follow: bool = False) -> Guide:
    """Move a guide to another store (history kept). Members stay with their home store unless
    `members_follow` (members belong to the store's business, not to the person)."""
    guide = Guide.objects.select_for_update().get(pk=guide.pk)
    if guide.store_id == to_store.pk:
        return guide
    GuideStoreMove.objects.create(
        guide=guide, from_store_id=guide.store_id, to_store=to_store, moved_at=timezone.now(), moved_by_id=moved_by_id
    )
    guide.store = to_store
    guide.full_clean()
    guide.save(update_fields=["store"])
    if members_follow:
        guide.members.update(store=to_store)
    return guide


@transaction.atomic
def guide_login_grant(*, guide: Guide, username: str, password: str) -> Guide:
    """Give a guide their own login (a brand user that is not staff): they see only the orders and commission
    attributed to them. A guide has at most one login; granting again resets its password."""
    from django.contrib.auth import get_user_model

    from core.passwords import password_validate

    User = get_user_model()
    guide = Guide.objects.select_for_update().get(pk=guide.pk)
    user = guide.user
    if user is None:
        if User.objects.filter(username=username).exists():
            raise Conflict(
                _("Username '%(username)s' is taken."),
                params={"username": username},
                code="username_taken",
                fields={"username": ["taken"]},
            )
        user = User(username=username, is_staff=False)
    password_validate(password, user)
    user.set_password(password)
    user.save()
    if guide.user_id != user.pk:
        guide.user = user
        guide.save(update_fields=["user"])
    return guide
