"""Reads about live rooms, scoped once: HQ sees every room and goods; a store manager only the rooms and goods of
their franchisee's stores (another franchisee's id is a 404, as everywhere). Members see upcoming and live rooms
of the brand and of their home store."""

from __future__ import annotations

from django.db.models import BigIntegerField, Q, QuerySet
from django.db.models.expressions import RawSQL

from core.permissions import StaffScope
from core.selectors import get_in_scope
from livestream.models import LiveGoods, LiveRoom, LiveSettings
from members.models import Member

VISIBLE_TO_MEMBERS = [LiveRoom.Status.UPCOMING, LiveRoom.Status.LIVE, LiveRoom.Status.PAUSED]
# The home store of the member of an openid (openid is unique; NULL when there is no such member or no store), in
# the schema of the request (search_path), like every other table.
_HOME_STORE_SQL = f'SELECT "store_id" FROM "{Member._meta.db_table}" WHERE "openid" = %s'


def live_settings() -> LiveSettings:
    """The brand's live settings (created with defaults on first read)."""
    row = LiveSettings.objects.order_by("pk").first()
    return row or LiveSettings.objects.create()


def rooms_for_scope(scope: StaffScope) -> QuerySet[LiveRoom]:
    qs = LiveRoom.objects.select_related("store", "shop")
    return qs if scope.is_hq else qs.filter(store__franchisee_id=scope.franchisee_id)


def room_get_for_scope(scope: StaffScope, room_id) -> LiveRoom:
    return get_in_scope(rooms_for_scope(scope), room_id, "live room")


def goods_for_scope(scope: StaffScope) -> QuerySet[LiveGoods]:
    qs = LiveGoods.objects.all()
    return qs if scope.is_hq else qs.filter(store__franchisee_id=scope.franchisee_id)


def goods_get_for_scope(scope: StaffScope, goods_id) -> LiveGoods:
    return get_in_scope(goods_for_scope(scope), goods_id, "live goods")


def rooms_for_member(member: Member | None) -> QuerySet[LiveRoom]:
    """Upcoming and live rooms of the brand (no store) and of the member's home store, soonest first."""
    where = Q(store__isnull=True)
    if member is not None and member.store_id:
        where |= Q(store_id=member.store_id)
    return LiveRoom.objects.filter(where, status__in=VISIBLE_TO_MEMBERS).order_by("start_at", "id")


def rooms_for_session(openid: str) -> QuerySet[LiveRoom]:
    """`rooms_for_member` of the member of `openid` (none: the brand's rooms only) in one statement: the member's
    home store is a subquery, not a read of its own (written as SQL: the ORM's Subquery costs more Python to build
    and compile than the round trip it saves on this path). Ordered by the caller (the page's order)."""
    home = RawSQL(_HOME_STORE_SQL, [openid], output_field=BigIntegerField())
    return LiveRoom.objects.filter(Q(store__isnull=True) | Q(store_id=home), status__in=VISIBLE_TO_MEMBERS)


def room_get_for_member(member: Member | None, room_id) -> LiveRoom:
    return get_in_scope(rooms_for_member(member), room_id, "live room")


def rooms_to_sync() -> QuerySet[LiveRoom]:
    """Rooms whose status only polling can tell (WeChat sends no status callback) or the clock decides."""
    return LiveRoom.objects.filter(status__in=VISIBLE_TO_MEMBERS)
