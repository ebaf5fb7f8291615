"""Writes about members: registration, profile, exclusive guide, tags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from members import hooks
from members.models import Guide, GuideAssignment, Member, MemberTag, Store, Tag, TierChange
from members.selectors import card_level_entry, phone_hash, phone_normalize
from members.services.visits import member_visit_record


def _resolve_links(
    *, store_code: str | None, guide_id: int | None, ignore_unknown_links: bool
) -> tuple[Store | None, Guide | None]:
    """The scanned scene's store and guide. Unknown ones are a field error unless the caller asked to ignore
    them (then the member is created without that link)."""
    errors: dict[str, list[str]] = {}
    store = guide = None
    if store_code:
        store = Store.objects.filter(code=store_code).exclude(status=Store.Status.CLOSED).first()
        if store is None:
            errors["store_code"] = [f"unknown store code '{store_code}'"]
    if guide_id is not None:
        guide = Guide.objects.select_related("store").filter(pk=guide_id, active=True).first()
        if guide is None:
            errors["guide_id"] = [f"unknown or inactive guide {guide_id}"]
    if errors and not ignore_unknown_links:
        raise ApplicationError(
            _("The store or guide of the scanned code is unknown."), code="unknown_link", fields=errors
        )
    return store, guide


def _default_channel(store: Store | None, guide: Guide | None) -> str:
    if guide is not None:
        return Member.Channel.GUIDE_SHARE
    if store is not None:
        return Member.Channel.STORE_QR
    return Member.Channel.MINI_PROGRAM


@transaction.atomic
def member_register(
    *,
    openid: str,
    unionid: str = "",
    phone: str,
    name: str = "",
    birthday: dt.date | None = None,
    gender: str = Member.Gender.UNKNOWN,
    store_code: str | None = None,
    guide_id: int | None = None,
    channel: str | None = None,
    ignore_unknown_links: bool = False,
    phone_verified: bool = False,
) -> tuple[Member, bool]:
    """Register the session's openid as a member. Returns (member, created).

    Idempotent: an openid that is already a member gets that member back, unchanged (also under concurrent
    calls). A phone that belongs to an imported member without openid claims that member only when WeChat
    vouched for it (`phone_verified`, from `member_phone_prove`); a typed phone that matches an imported member
    is a 409 `phone_verification_required` and reveals nothing of that member. A phone that belongs to another
    openid is a 409.
    """
    existing = Member.objects.filter(openid=openid).first()
    if existing is not None:
        return existing, False
    try:
        phone = phone_normalize(phone)
    except ValueError as exc:
        raise ApplicationError(_("Invalid phone number."), code="invalid_phone", fields={"phone": [str(exc)]}) from exc
    store, guide = _resolve_links(store_code=store_code, guide_id=guide_id, ignore_unknown_links=ignore_unknown_links)
    hashed = phone_hash(phone)
    holder = Member.objects.select_for_update().filter(phone_hash=hashed).first()
    if holder is not None:
        if holder.openid:
            raise Conflict(
                _("This phone number belongs to another member."),
                code="phone_taken",
                fields={"phone": ["already registered"]},
            )
        if not phone_verified:
            raise Conflict(
                _("This phone number is on file; confirm it with WeChat's phone-number button."),
                code="phone_verification_required",
                fields={"phone_code": ["required for this phone"]},
            )
        claimed = _member_claim(
            member=holder, openid=openid, unionid=unionid, name=name, birthday=birthday, gender=gender, guide=guide
        )
        member_visit_record(member_id=claimed.pk)  # an imported member comes online: the day counts as a visit
        return claimed, True

    home_store = guide.store if guide is not None else store
    entry = card_level_entry()
    now = timezone.now()
    member = Member(
        openid=openid,
        unionid=unionid or None,
        phone=phone,
        phone_hash=hashed,
        name=name,
        birthday=birthday,
        gender=gender,
        joined_at=now,
        join_channel=channel or hooks.join_channel_resolve(openid) or _default_channel(store, guide),
        join_store=store or (guide.store if guide else None),
        join_guide=guide,
        store=home_store,
        guide=guide,
        tier=entry,
        tier_since=now if entry else None,
    )
    member.full_clean(validate_unique=False)
    try:
        with transaction.atomic():
            member.save()
    except IntegrityError:
        # Registered concurrently by a second request with the same openid: that one wins.
        winner = Member.objects.filter(openid=openid).first()
        if winner is not None:
            return winner, False
        raise Conflict(
            _("This phone number or unionid belongs to another member."),
            code="phone_taken",
            fields={"phone": ["already registered"]},
        ) from None
    if entry is not None:
        TierChange.objects.create(
            member=member, from_level=None, to_level=entry, kind=TierChange.Kind.INITIAL, reason="registration"
        )
    if guide is not None:
        GuideAssignment.objects.create(member=member, from_guide=None, to_guide=guide, reason="registration")
    hooks.member_registered_notify(member)  # the sign-up bonus (points): once per member, keyed
    member_visit_record(member_id=member.pk)
    return member, True


def _member_claim(
    *, member: Member, openid: str, unionid: str, name: str, birthday, gender: str, guide: Guide | None
) -> Member:
    """An imported member registers in the mini-program: their openid joins the existing row."""
    member.openid = openid
    member.unionid = unionid or member.unionid
    member.name = member.name or name
    member.birthday = member.birthday or birthday
    if member.gender == Member.Gender.UNKNOWN:
        member.gender = gender
    fields = ["openid", "unionid", "name", "birthday", "gender", "updated_at"]
    if guide is not None and member.guide_id is None:
        GuideAssignment.objects.create(member=member, from_guide=None, to_guide=guide, reason="registration")
        member.guide, member.store = guide, guide.store
        fields += ["guide", "store"]
    member.full_clean(validate_unique=False)
    member.save(update_fields=fields)
    return member


MEMBER_EDITABLE = {"name", "gender", "birthday"}


@transaction.atomic
def member_profile_update(*, member: Member, **changes) -> Member:
    """What a member may edit: name, gender, and the birthday once (it drives birthday benefits).
    Not the phone (that needs a verified number) and not the tier."""
    refused = {k: ["not editable by the member"] for k in changes if k not in MEMBER_EDITABLE}
    if refused:
        raise ApplicationError(_("Some fields cannot be edited."), code="not_editable", fields=refused)
    member = Member.objects.select_for_update().get(pk=member.pk)
    if "birthday" in changes and member.birthday and changes["birthday"] != member.birthday:
        raise ApplicationError(
            _("The birthday can be set only once."), code="not_editable", fields={"birthday": ["already set"]}
        )
    for key, value in changes.items():
        setattr(member, key, value)
    member.full_clean(validate_unique=False)
    member.save(update_fields=[*changes, "updated_at"])
    return member


@transaction.atomic
def member_guide_assign(
    *, member: Member, guide: Guide | None, reason: str, changed_by_id: int | None = None
) -> Member:
    """Make `guide` the member's exclusive guide (None: no guide). History kept; the home store follows."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if guide is not None and not guide.active:
        raise ApplicationError(_("This guide is not active."), code="guide_inactive", fields={"guide_id": ["inactive"]})
    if member.guide_id == (guide.pk if guide else None):
        return member
    GuideAssignment.objects.create(
        member=member, from_guide_id=member.guide_id, to_guide=guide, reason=reason, changed_by_id=changed_by_id
    )
    member.guide = guide
    fields = ["guide", "updated_at"]
    if guide is not None:
        member.store_id = guide.store_id
        fields.append("store")
    member.save(update_fields=fields)
    return member


@transaction.atomic
def guide_members_reassign(
    *, members: QuerySet[Member], from_guide: Guide, to_guide: Guide, reason: str, changed_by_id: int | None = None
) -> int:
    """Move every member of `from_guide` (within `members`, the caller's scope) to `to_guide`. Returns the count."""
    if not to_guide.active:
        raise ApplicationError(
            _("The receiving guide is not active."), code="guide_inactive", fields={"to_guide_id": ["inactive"]}
        )
    if from_guide.pk == to_guide.pk:
        return 0
    ids = list(
        members.filter(guide_id=from_guide.pk)
        .select_for_update(of=("self",))
        .order_by("id")
        .values_list("id", flat=True)
    )
    now = timezone.now()
    GuideAssignment.objects.bulk_create(
        [
            GuideAssignment(
                member_id=i,
                from_guide_id=from_guide.pk,
                to_guide_id=to_guide.pk,
                reason=reason,
                changed_at=now,
                changed_by_id=changed_by_id,
            )
            for i in ids
        ],
        batch_size=2000,
    )
    Member.objects.filter(id__in=ids).update(guide_id=to_guide.pk, store_id=to_guide.store_id, updated_at=now)
    return len(ids)


@transaction.atomic
def tag_create(*, name: str) -> Tag:
    name = name.strip()
    if Tag.objects.filter(name=name).exists():
        raise Conflict(
            _("Tag '%(name)s' exists."), params={"name": name}, code="tag_exists", fields={"name": ["taken"]}
        )
    tag = Tag(name=name)
    tag.full_clean()
    tag.save()
    return tag


@transaction.atomic
def members_tag(*, tag: Tag, member_ids: Iterable[int]) -> int:
    """Put `tag` on these members (already tagged ones are left alone). Returns how many were newly tagged."""
    ids = sorted(set(member_ids))
    before = MemberTag.objects.filter(tag=tag, member_id__in=ids).count()
    MemberTag.objects.bulk_create(
        [MemberTag(member_id=i, tag=tag) for i in ids], ignore_conflicts=True, batch_size=2000
    )
    return MemberTag.objects.filter(tag=tag, member_id__in=ids).count() - before


@transaction.atomic
def members_untag(*, tag: Tag, member_ids: Iterable[int]) -> int:
    deleted, _by_model = MemberTag.objects.filter(tag=tag, member_id__in=set(member_ids)).delete()
    return deleted
