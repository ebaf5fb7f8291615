"""Reads about members, stores and guides. Staff scoping is written here once: every staff list and detail goes
through `*_for_scope` / `*_get_for_scope`, so a store manager only ever reaches their franchisee's rows and an id
of another franchisee is a 404 (core.errors.NotFound), never the object."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import OuterRef, QuerySet
from django.utils import timezone

from core.crypto import keyed_hash
from core.permissions import StaffScope
from core.selectors import get_in_scope
from core.sql_reads import JoinedRead
from members import hooks
from members.models import CardLevel, CardTemplate, Guide, Member, MemberImport, MemberTag, Store, Tag

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


@cache
def _rows_by_phone_sql(*, scoped: bool) -> tuple[str, list]:
    """The SQL of `member_rows(member_search(scope, MemberFilters(phone=...)))` written once from the models'
    columns (`scoped`: a store manager's, their franchisee's stores only, as members_for_scope says), and the
    converters of its columns."""
    aliases = {"": ("m", Member), "tier": ("t", CardLevel), "store": ("s", Store), "guide": ("g", Guide)}
    columns, converters = [], []
    for name in MEMBER_ROW_FIELDS:
        relation, _, field_name = name.rpartition("__")
        alias, model = aliases[relation]
        field = model._meta.get_field(field_name)
        if hasattr(field, "from_db_value"):
            converters.append((len(columns), field.from_db_value))
        columns.append(f'{alias}."{field.column}"')
    link = MemberTag._meta
    tag_member, tag_tag = link.get_field("member").column, link.get_field("tag").column
    tags = (
        f'ARRAY(SELECT tg."name" FROM "{Tag._meta.db_table}" tg JOIN "{link.db_table}" mt ON mt."{tag_tag}" = tg."id" '
        f'WHERE mt."{tag_member}" = m."id" ORDER BY tg."name")'
    )
    joins = " ".join(
        f'LEFT JOIN "{model._meta.db_table}" {alias} ON {alias}."id" = m."{Member._meta.get_field(relation).column}"'
        for relation, (alias, model) in aliases.items()
        if relation
    )
    where = 'm."phone_hash" = %s' + (f' AND s."{Store._meta.get_field("franchisee").column}" = %s' if scoped else "")
    sql = (
        f'SELECT {", ".join(columns)}, {tags} FROM "{Member._meta.db_table}" m {joins} WHERE {where} '
        'ORDER BY m."id" DESC LIMIT %s'
    )
    return sql, converters


def member_rows_by_phone(*, scope: StaffScope, phone: str, limit: int) -> list[dict]:
    """`member_rows(member_search(scope=scope, filters=MemberFilters(phone=phone)))` newest first, at most `limit`
    rows, in one fixed statement with no ORM compile (the staff look-up at the counter runs it on every scan).
    The same rows and values, the same scope: a store manager sees only members of their franchisee's stores."""
    try:
        params = [phone_hash(phone)]
    except ValueError:
        return []
    scoped = not scope.is_hq  # members_for_scope's rule
    if scoped:
        params.append(scope.franchisee_id)
    sql, converters = _rows_by_phone_sql(scoped=scoped)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, limit])
        rows = cursor.fetchall()
    names = (*MEMBER_ROW_FIELDS, "tag_names")
    found = []
    for row in rows:
        row = list(row)
        for i, convert in converters:
            row[i] = convert(row[i], None, connection)
        found.append(dict(zip(names, row, strict=True)))
    return found


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


def member_profiles() -> QuerySet[Member]:
    """Members with what their own profile shows, read in one statement: tier, exclusive guide and the guide's
    store, and the points balance as `points_balance_now` (the expression points fills in members.hooks)."""
    return Member.objects.select_related("tier", "guide__store").annotate(
        points_balance_now=hooks.points_balance_expression()
    )


# What /mp/me shows (members.api.views.me_out) of the member, its tier, exclusive guide and the guide's store.
PROFILE_FIELDS = {
    "m": ("name", "phone", "gender", "birthday", "joined_at", "tier", "tier_since", "guide", "card_state", "card_id",
          "card_code"),
    "t": ("name", "rank", "benefits", "points_multiplier"),
    "g": ("name", "store"),
    "s": ("code", "name"),
}  # fmt: skip


@cache
def _profile_read() -> JoinedRead:
    return JoinedRead(
        models=[("m", Member), ("t", CardLevel), ("g", Guide), ("s", Store)],
        attach=[("m", "tier", "t"), ("m", "guide", "g"), ("g", "store", "s")],
        only=PROFILE_FIELDS,
        extra=[("points_balance_now", hooks.points_balance_sql('m."id"'))],
        tail='FROM {m} LEFT JOIN {t} ON t."id" = m."tier_id" LEFT JOIN {g} ON g."id" = m."guide_id" '
        'LEFT JOIN {s} ON s."id" = g."store_id" WHERE m."openid" = %s ORDER BY m."id" DESC LIMIT 1',
    )


def member_profile_of(openid: str) -> Member | None:
    """The member of `openid` (this brand's) as `member_profiles()` reads it, None: not registered. One fixed
    statement (no ORM compile: the mini-program reads it on every launch) of only what the profile shows
    (PROFILE_FIELDS; the member's other fields are deferred, read on access as `.only()` leaves them)."""
    found = _profile_read()([openid])
    return found[0] if found else None


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
