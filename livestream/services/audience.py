"""The audience ekr measures itself: the hot path of a show, and its fold into PostgreSQL.

Hot path (`events_ingest`): one Lua script, one Redis round trip per request, no database row:
- a per-viewer request counter (atomic INCR with a window) refuses a viewer who sends too much (429);
- the batch is appended to the room's Redis stream (XADD), which is the record of what was acknowledged;
- live figures for the show itself: a HyperLogLog of viewers (PFADD), a hash of counters (HINCRBY), a sorted set
  of presence (ZADD, by last heartbeat) from which concurrent viewers and the peak are read;
- the viewer's last room and sharer (a key with a TTL) for order and registration attribution;
- a "fold pending" flag: the request that sets it queues the fold task a few seconds later.
A stream longer than EKR_LIVE_STREAM_CAP makes the endpoint answer 503 (retry later) rather than drop anything.

Fold (`room_fold`): under a row lock on the room's stats row, read stream entries after the cursor kept in that
row (`folded_until`), upsert one LiveViewer per openid (watch time, interactions, sharer), add the room totals,
move the cursor, commit; only then trim the stream up to the cursor. A fold killed before commit leaves the cursor
where it was (the entries are folded by the next run); killed after commit, the cursor skips them. So every
acknowledged event is folded exactly once. Every key carries the brand's schema.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError
from core.redis_client import redis_client
from livestream.models import LiveRoom, LiveRoomStats, LiveViewer

# Event types and their one-letter codes in the stream.
CODES = {
    "enter": "e",
    "heartbeat": "h",
    "leave": "x",
    "like": "l",
    "comment": "c",
    "share": "s",
    "product_click": "p",
    "add_to_cart": "a",
}
PRESENCE_SECONDS = 45  # a viewer without a heartbeat for this long is gone (heartbeats every 15 s)
WATCH_GAP_SECONDS = 45  # a gap between two events longer than this is not watch time
OPENID_MAX = 64


def keys(schema: str, room_id: int, openid: str = "") -> dict[str, str]:
    base = f"ekr:{schema}:live:{room_id}"
    return {
        "rate": f"{base}:rl:{openid}",
        "stream": f"{base}:stream",
        "uv": f"{base}:uv",
        "counters": f"{base}:counters",
        "presence": f"{base}:presence",
        "fold": f"{base}:fold-pending",
        "viewer": f"ekr:{schema}:live:viewer:{openid}",
    }


_INGEST = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
if n > tonumber(ARGV[2]) then return {-1, redis.call('TTL', KEYS[1])} end
if redis.call('XLEN', KEYS[2]) >= tonumber(ARGV[16]) then return {-2, 0} end
local now = tonumber(redis.call('TIME')[1])
local id = redis.call('XADD', KEYS[2], '*', 'o', ARGV[1], 'e', ARGV[4], 'g', ARGV[12], 'm', ARGV[13])
redis.call('PFADD', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'events', ARGV[5])
local names = {'likes', 'comments', 'shares', 'product_clicks', 'cart_adds'}
for i = 1, 5 do
  local v = tonumber(ARGV[5 + i])
  if v > 0 then redis.call('HINCRBY', KEYS[4], names[i], v) end
end
if ARGV[11] == '1' then
  redis.call('ZADD', KEYS[5], now, ARGV[1])
elseif ARGV[11] == '2' then
  redis.call('ZREM', KEYS[5], ARGV[1])
end
local c = redis.call('ZCOUNT', KEYS[5], now - tonumber(ARGV[17]), '+inf')
if c > tonumber(redis.call('HGET', KEYS[4], 'peak') or '0') then redis.call('HSET', KEYS[4], 'peak', c) end
redis.call('SET', KEYS[6], ARGV[14] .. '|' .. ARGV[12] .. '|' .. ARGV[13], 'EX', ARGV[15])
local fold = redis.call('SET', KEYS[7], '1', 'NX', 'EX', 60)
return {id, fold and 1 or 0, c}
"""


@dataclass
class Ingested:
    stream_id: str
    accepted: int
    concurrent: int
    fold_due: bool


def _int_or_none(value, field: str) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value > 2**62:
        raise ApplicationError(_("Invalid share parameters."), fields={f"share.{field}": ["a positive integer"]})
    return value


def encode_events(events, *, max_events: int, max_likes: int) -> tuple[str, list[int]]:
    """Validate a batch and encode it for the stream: ('h;l5;p12', [likes, comments, shares, clicks, carts]).
    Bad input is a 400 naming the event (index) at fault."""
    if not isinstance(events, list) or not events:
        raise ApplicationError(_("Send a non-empty list of events."), fields={"events": ["required"]})
    if len(events) > max_events:
        raise ApplicationError(
            _("At most %(max_events)s events per request."),
            params={"max_events": max_events},
            code="too_many_events",
            status_code=413,
            fields={"events": [f"at most {max_events}"]},
        )
    parts: list[str] = []
    totals = [0, 0, 0, 0, 0]
    for i, event in enumerate(events):
        kind = event.get("type") if isinstance(event, dict) else None
        code = CODES.get(kind) if isinstance(kind, str) else None
        if code is None:
            raise ApplicationError(_("Unknown event type."), fields={f"events[{i}].type": [f"one of {sorted(CODES)}"]})
        if code == "l":
            count = event.get("count", 1)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= max_likes:
                raise ApplicationError(_("Invalid like count."), fields={f"events[{i}].count": [f"1 to {max_likes}"]})
            parts.append(f"l{count}")
            totals[0] += count
        elif code in ("p", "a"):
            goods_id = event.get("goods_id")
            if isinstance(goods_id, bool) or not isinstance(goods_id, int) or not 1 <= goods_id <= 2**62:
                raise ApplicationError(_("Invalid goods id."), fields={f"events[{i}].goods_id": ["required"]})
            parts.append(f"{code}{goods_id}")
            totals[3 if code == "p" else 4] += 1
        else:
            parts.append(code)
            if code == "c":
                totals[1] += 1
            elif code == "s":
                totals[2] += 1
    return ";".join(parts), totals


def events_ingest(*, room_id: int, openid: str, events, share: dict | None = None) -> Ingested:
    """Acknowledge a batch of audience events from one viewer (member or not). Raises 429 throttled past the
    viewer's rate, 503 when the room's stream is full (nothing is dropped silently), 400/413 on bad input. What
    returns normally is in the stream and will be folded."""
    encoded, totals = encode_events(
        events, max_events=settings.EKR_LIVE_EVENTS_PER_BATCH, max_likes=settings.EKR_LIVE_LIKES_PER_EVENT
    )
    if not openid or len(openid) > OPENID_MAX:
        raise ApplicationError(_("No viewer."), code="not_authenticated", status_code=401)
    share = share if isinstance(share, dict) else {}
    guide_id = _int_or_none(share.get("guide_id"), "guide_id")
    sharer_member_id = _int_or_none(share.get("member_id"), "member_id")
    presence = "2" if "x" in encoded.split(";") else "1"  # any event but a leave shows the viewer is there
    k = keys(connection.schema_name, room_id, openid)
    result = _script()(
        keys=[k["rate"], k["stream"], k["uv"], k["counters"], k["presence"], k["viewer"], k["fold"]],
        args=[
            openid,
            settings.EKR_LIVE_REQUESTS_PER_MINUTE,
            60,
            encoded,
            len(events),
            *totals,
            presence,
            guide_id or "",
            sharer_member_id or "",
            room_id,
            settings.EKR_LIVE_ATTRIBUTION_SECONDS,
            settings.EKR_LIVE_STREAM_CAP,
            PRESENCE_SECONDS,
        ],
    )
    if result[0] == -1:
        raise ApplicationError(
            _("Too many events; slow down."), code="throttled", status_code=429, fields={"retry_after": int(result[1])}
        )
    if result[0] == -2:
        raise ApplicationError(_("The room is busy; send again in a few seconds."), code="live_busy", status_code=503)
    stream_id = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
    return Ingested(stream_id=stream_id, accepted=len(events), concurrent=int(result[2]), fold_due=bool(result[1]))


_scripts: dict[int, object] = {}


def _script():
    client = redis_client()
    script = _scripts.get(id(client))
    if script is None:
        script = _scripts[id(client)] = client.register_script(_INGEST)
    return script


def viewer_last_room(openid: str) -> tuple[int, int | None, int | None] | None:
    """(room id, sharer guide id, sharer member id) of the room this openid sent events to within the
    attribution window, or None."""
    raw = redis_client().get(keys(connection.schema_name, 0, openid)["viewer"])
    if not raw:
        return None
    room, guide, member = [*raw.decode().split("|"), "", ""][:3]
    return int(room), int(guide) if guide else None, int(member) if member else None


def room_live_counters(room_id: int) -> dict:
    """The show's figures right now, from Redis: viewers so far (HyperLogLog, ~0.8% error), concurrent viewers,
    peak, likes, comments, shares, product clicks, cart adds."""
    import time

    client = redis_client()
    k = keys(connection.schema_name, room_id)
    pipe = client.pipeline(transaction=False)
    pipe.pfcount(k["uv"])
    pipe.zcount(k["presence"], time.time() - PRESENCE_SECONDS, "+inf")
    pipe.hgetall(k["counters"])
    uv, concurrent, counters = pipe.execute()
    counters = {key.decode(): int(value) for key, value in counters.items()}
    return {
        "viewers": uv,
        "concurrent": concurrent,
        "peak_concurrent": counters.get("peak", 0),
        **{
            name: counters.get(name, 0)
            for name in ("events", "likes", "comments", "shares", "product_clicks", "cart_adds")
        },
    }


# --- fold ---------------------------------------------------------------------------------------------------------


@dataclass
class _Viewer:
    first_ms: int
    last_ms: int
    watch_ms: int = 0
    present: bool = True
    likes: int = 0
    comments: int = 0
    shares: int = 0
    clicks: int = 0
    carts: int = 0
    guide: int | None = None
    member: int | None = None


def _ms(stream_id: str) -> int:
    return int(stream_id.split("-", 1)[0])


def _apply(v: _Viewer, ms: int, encoded: str, prev_ms: int | None, present: bool) -> None:
    if prev_ms is not None and present and 0 < ms - prev_ms <= WATCH_GAP_SECONDS * 1000:
        v.watch_ms += ms - prev_ms
    v.last_ms = ms
    v.present = True
    for part in encoded.split(";"):
        code = part[:1]
        if code == "l":
            v.likes += int(part[1:])
        elif code == "c":
            v.comments += 1
        elif code == "s":
            v.shares += 1
        elif code == "p":
            v.clicks += 1
        elif code == "a":
            v.carts += 1
        elif code == "x":
            v.present = False


def room_fold(*, room_id: int, max_entries: int = 5000) -> int:
    """Fold the room's unfolded events into LiveViewer rows and the room's totals; returns how many stream entries
    were folded. Runs until the stream is drained, a batch of `max_entries` per transaction."""
    total = 0
    while True:
        folded, last_id = _fold_batch(room_id=room_id, max_entries=max_entries)
        total += folded
        if last_id:
            redis_client().xtrim(keys(connection.schema_name, room_id)["stream"], minid=last_id, approximate=False)
        if folded < max_entries:
            return total


def _fold_batch(*, room_id: int, max_entries: int) -> tuple[int, str | None]:
    from members.models import Member

    schema = connection.schema_name
    k = keys(schema, room_id)
    client = redis_client()
    with transaction.atomic():
        stats = LiveRoomStats.objects.select_for_update().filter(room_id=room_id).first()
        if stats is None:
            return 0, None
        entries = client.xrange(k["stream"], min=f"({stats.folded_until}", max="+", count=max_entries)
        if not entries:
            return 0, None
        batch: dict[str, list[tuple[int, str, int | None, int | None]]] = {}
        for raw_id, fields in entries:
            f = {key.decode(): value.decode() for key, value in fields.items()}
            batch.setdefault(f["o"], []).append(
                (_ms(raw_id.decode()), f["e"], int(f["g"]) if f["g"] else None, int(f["m"]) if f["m"] else None)
            )
        existing = {v.openid: v for v in LiveViewer.objects.filter(room_id=room_id, openid__in=list(batch))}
        new_openids = [o for o in batch if o not in existing]
        members = dict(Member.objects.filter(openid__in=new_openids).values_list("openid", "pk")) if new_openids else {}
        rows = []
        sums = [0, 0, 0, 0, 0]
        for openid, items in batch.items():
            old = existing.get(openid)
            prev = int(old.last_seen_at.timestamp() * 1000) if old else None
            present = old.present if old else True
            v = _Viewer(first_ms=items[0][0], last_ms=items[0][0])
            for ms, encoded, guide, member in items:
                _apply(v, ms, encoded, prev, present)
                prev, present = ms, v.present
                v.guide = v.guide or guide
                v.member = v.member or member
            sums = [a + b for a, b in zip(sums, (v.likes, v.comments, v.shares, v.clicks, v.carts), strict=True)]
            rows.append(
                (
                    room_id,
                    openid,
                    members.get(openid) if old is None else old.member_id,
                    old.was_member if old else openid in members,
                    old.first_seen_at if old else _dt(v.first_ms),
                    _dt(v.last_ms),
                    (old.watch_seconds if old else 0) + v.watch_ms // 1000,
                    v.present,
                    (old.likes if old else 0) + v.likes,
                    (old.comments if old else 0) + v.comments,
                    (old.shares if old else 0) + v.shares,
                    (old.product_clicks if old else 0) + v.clicks,
                    (old.cart_adds if old else 0) + v.carts,
                    (old.sharer_guide_id if old and old.sharer_guide_id else v.guide),
                    (old.sharer_member_id if old and old.sharer_member_id else v.member),
                )
            )
        _upsert_viewers(rows)
        last_id = entries[-1][0].decode()
        peak = int(client.hget(k["counters"], "peak") or 0)
        LiveRoomStats.objects.filter(pk=room_id).update(
            folded_until=last_id,
            events=stats.events + len(entries),
            likes=stats.likes + sums[0],
            comments=stats.comments + sums[1],
            shares=stats.shares + sums[2],
            product_clicks=stats.product_clicks + sums[3],
            cart_adds=stats.cart_adds + sums[4],
            peak_concurrent=max(stats.peak_concurrent, peak),
        )
    return len(entries), last_id


def _dt(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def _upsert_viewers(rows: list[tuple]) -> None:
    from psycopg2.extras import execute_values

    table = LiveViewer._meta.db_table
    sql = f"""
        INSERT INTO {table} (room_id, openid, member_id, was_member, first_seen_at, last_seen_at, watch_seconds,
                             present, likes, comments, shares, product_clicks, cart_adds, sharer_guide_id,
                             sharer_member_id)
        VALUES %s
        ON CONFLICT (room_id, openid) DO UPDATE SET
            member_id = COALESCE({table}.member_id, EXCLUDED.member_id),
            last_seen_at = EXCLUDED.last_seen_at, watch_seconds = EXCLUDED.watch_seconds,
            present = EXCLUDED.present, likes = EXCLUDED.likes, comments = EXCLUDED.comments,
            shares = EXCLUDED.shares, product_clicks = EXCLUDED.product_clicks, cart_adds = EXCLUDED.cart_adds,
            sharer_guide_id = EXCLUDED.sharer_guide_id, sharer_member_id = EXCLUDED.sharer_member_id
    """
    with connection.cursor() as cursor:
        execute_values(cursor.cursor if hasattr(cursor, "cursor") else cursor, sql, rows, page_size=1000)


def room_accepts_events(room: LiveRoom) -> bool:
    """Upcoming, live or paused rooms take events; an ended room for ten more minutes (late heartbeats)."""
    from django.utils import timezone

    if room.is_active:
        return True
    return (
        room.status == LiveRoom.Status.ENDED
        and room.ended_at is not None
        and room.ended_at >= timezone.now() - dt.timedelta(minutes=10)
    )
