"""Reads about members, stores and guides. Staff scoping is written here once: every staff list and detail goes
through `*_for_scope` / `*_get_for_scope`, so a store manager only ever reaches their franchisee's rows and an id
of another franchisee is a 404 (core.errors.NotFound), never the object."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import OuterRef, QuerySet
from django.utils import timezone

from core.crypto import keyed_hash
from core.permissions import StaffScope
from core.selectors import get_in_scope
from members import hooks
from members.models import CardLevel, CardTemplate, Guide, Member, MemberImport, Store, Tag

PHONE_HASH_PURPOSE = "member-phone"


def phone_normalize(raw: str) -> str:
    """'+86 138-0013-8000' -> '13800138000'. Mainland mobiles only; raises ValueError otherwise."""
    if (
        type(raw) is str and len(raw) == 11 and raw.isdigit() and raw[0] == "1" and raw.isascii()
    ):  # already normalised: the common case
        return raw
    digits = "".join(ch for ch in str(raw) if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if len(digits) != 11 or not digits.startswith("1"):
        raise ValueError("not a mainland China mobile number (11 digits starting with 1)")
    return digits


def phone_hash(phone: str) -> str:
    """The keyed hash members are looked up by (the phone itself is encrypted and not searchable)."""
    return keyed_hash(phone_normalize(phone), purpose=PHONE_HASH_PURPOSE)


# --- scope ------------------------------------------------------------------------------------------------------


def stores_for_scope(scope: StaffScope) -> QuerySet[Store]:
    qs = Store.objects.select_related("franchisee")
    return qs if scope.is_hq else qs.filter(franchisee_id=scope.franchisee_id)


def guides_for_scope(scope: StaffScope) -> QuerySet[Guide]:
    qs = Guide.objects.select_related("store")
    return qs if scope.is_hq else qs.filter(store__franchisee_id=scope.franchisee_id)


def members_for_scope(scope: StaffScope) -> QuerySet[Member]:
    qs = Member.objects.all()
    return qs if scope.is_hq else qs.filter(store__franchisee_id=scope.franchisee_id)


def store_get_for_scope(scope: StaffScope, store_id) -> Store:
    return get_in_scope(stores_for_scope(scope), store_id, "store")


def guide_get_for_scope(scope: StaffScope, guide_id) -> Guide:
    return get_in_scope(guides_for_scope(scope), guide_id, "guide")


def member_get_for_scope(scope: StaffScope, member_id) -> Member:
    return get_in_scope(
        members_for_scope(scope).select_related("tier", "guide", "store", "join_store"), member_id, "member"
    )


# --- member search ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFilters:
    phone: str | None = None
    name: str | None = None
    tier_id: int | None = None
    store_id: int | None = None
    guide_id: int | None = None
    tag_id: int | None = None
    birthday_month: int | None = None
    joined_from: dt.date | None = None
    joined_to: dt.date | None = None


def member_search(*, scope: StaffScope, filters: MemberFilters) -> QuerySet[Member]:
    """Members the caller may see, filtered. A phone that is not a mobile number matches nobody."""
    qs = members_for_scope(scope).select_related("tier", "guide", "store")
    f = filters
    if f.phone:
        try:
            qs = qs.filter(phone_hash=phone_hash(f.phone))
        except ValueError:
            return qs.none()
    if f.name:
        qs = qs.filter(name__startswith=f.name)
    if f.tier_id:
        qs = qs.filter(tier_id=f.tier_id)
    if f.store_id:
        qs = qs.filter(store_id=f.store_id)
    if f.guide_id:
        qs = qs.filter(guide_id=f.guide_id)
    if f.tag_id:
        qs = qs.filter(membertag__tag_id=f.tag_id)
    if f.birthday_month:
        qs = qs.filter(birthday__month=f.birthday_month)
    if f.joined_from:
        qs = qs.filter(joined_at__date__gte=f.joined_from)
    if f.joined_to:
        qs = qs.filter(joined_at__date__lte=f.joined_to)
    return qs


# The columns of a member in staff lists (members.api.staff_members.MemberRowOutput renders them).
MEMBER_ROW_FIELDS = (
    "id",
    "name",
    "phone",
    "gender",
    "birthday",
    "status",
    "joined_at",
    "join_channel",
    "card_state",
    "tier_id",
    "tier__name",
    "store_id",
    "store__code",
    "store__name",
    "guide_id",
    "guide__name",
)


def member_rows(qs: QuerySet[Member]):
    """The members of `qs` as dict rows for a list: MEMBER_ROW_FIELDS (the phone decrypted) and `tag_names`, their
    tags' names in name order, all in one query with no model instances."""
    names = Tag.objects.filter(membertag__member=OuterRef("pk")).order_by("name").values("name")
    return qs.select_related(None).annotate(tag_names=ArraySubquery(names)).values(*MEMBER_ROW_FIELDS, "tag_names")


def member_by_phone(phone: str) -> Member | None:
    try:
        return Member.objects.filter(phone_hash=phone_hash(phone)).first()
    except ValueError:
        return None


# --- tiers, points, card ------------------------------------------------------------------------------------------


def card_levels() -> list[CardLevel]:
    return list(CardLevel.objects.order_by("rank"))


def card_level_entry() -> CardLevel | None:
    return CardLevel.objects.order_by("rank").first()


def card_level_for(*, earned_points_12m: int, spent_fen_12m: int) -> CardLevel | None:
    """The highest tier whose threshold the figures meet."""
    best = None
    for level in card_levels():
        if level.is_met_by(earned_points_12m=earned_points_12m, spent_fen_12m=spent_fen_12m):
            best = level
    return best


def member_points_balance(member: Member) -> int:
    """The member's points balance (read through the hook points fills)."""
    return hooks.points_balance_read(member)


def member_trailing_12m(member: Member, *, now: dt.datetime | None = None) -> tuple[int, int]:
    """(points earned, fen spent) over the trailing 12 months, from the tier inputs points and miniprograms
    register (the points ledger and the paid orders)."""
    since = (now or timezone.now()) - dt.timedelta(days=365)
    return (
        hooks.tier_input_read(hooks.EARNED_POINTS, member=member, since=since),
        hooks.tier_input_read(hooks.SPENT_FEN, member=member, since=since),
    )


def card_template_active() -> CardTemplate | None:
    return CardTemplate.objects.filter(active=True).first()


def card_wechat_app():
    """The WeChat app the brand's member card belongs to: its official account if it has one, else its
    mini-program."""
    from tenants.models import WeChatApp

    apps = list(WeChatApp.objects.select_related("brand").filter(brand__schema_name=connection.schema_name))
    apps.sort(key=lambda a: a.kind != WeChatApp.Kind.OFFICIAL_ACCOUNT)
    return apps[0] if apps else None


def member_import_get(import_id) -> MemberImport:
    return get_in_scope(MemberImport.objects.all(), import_id, "import")
