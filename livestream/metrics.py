"""Live metrics, each defined once, with its formula. The analytics app and the console read them through:

    room_metrics(room) -> LiveMetrics                      one show
    rooms_metrics(rooms) -> LiveMetrics                    any set of shows (a queryset of LiveRoom), summed
    period_metrics(scope=..., date_from=..., date_to=..., store_id=None, brand_rooms_only=False) -> LiveMetrics
                                                           the shows that started in [date_from, date_to]
                                                           (Asia/Shanghai dates), scoped like the console

Definitions (per show; over several shows the counts are summed and the rates are sums over sums, never an
average of rates):
- The show's window: `started_at` (else the planned `start_at`) to `ended_at` (else now).
- A paid order: `paid_at` is set (a later refund does not undo the sale; GMV is `total_fen` of paid orders).
- Viewers come from ekr's own audience events (livestream.services.audience), folded into LiveViewer: until the
  fold has run, the live figures are in `audience.room_live_counters`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from zoneinfo import ZoneInfo

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from core.permissions import StaffScope
from livestream.models import LiveJoin, LiveOrder, LiveRoom, LiveViewer
from livestream.selectors import live_settings, rooms_for_scope
from miniprograms.models import Order

POST_SHOW = dt.timedelta(hours=72)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass
class LiveMetrics:
    rooms: int = 0
    unique_viewers: int = 0  # distinct openids (over several shows: distinct across them)
    member_viewers: int = 0
    non_member_viewers: int = 0
    peak_concurrent: int = 0
    watch_seconds_total: int = 0
    likers: int = 0
    interactors: int = 0
    new_members: int = 0
    orders_during_show: int = 0
    gmv_during_show_fen: int = 0
    orders_post_show: int = 0
    gmv_post_show_fen: int = 0
    lapsed_member_viewers: int = 0
    reactivated_members: int = 0
    viewer_shows: int = 0  # viewers summed over shows (the denominator of the per-viewer rates)
    room_ids: list[int] = field(default_factory=list)

    @property
    def average_watch_seconds(self) -> int:
        """Average watch time = total watch seconds of all viewers / viewers (per show, summed over shows)."""
        return self.watch_seconds_total // self.viewer_shows if self.viewer_shows else 0

    @property
    def like_rate(self) -> float:
        """Like rate = viewers who liked at least once / viewers."""
        return _rate(self.likers, self.viewer_shows)

    @property
    def interaction_rate(self) -> float:
        """Interaction rate = viewers who liked, commented, shared or clicked a product / viewers."""
        return _rate(self.interactors, self.viewer_shows)

    @property
    def reactivation_rate(self) -> float:
        """Old-customer reactivation rate = lapsed member viewers who paid an order between the show's start and
        72 hours after its end / lapsed member viewers. A lapsed member viewer was a member when first seen in the
        room and paid no order in the `reactivation_lookback_days` (brand setting, default 180) before the show
        started."""
        return _rate(self.reactivated_members, self.lapsed_member_viewers)

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(
            average_watch_seconds=self.average_watch_seconds,
            like_rate=self.like_rate,
            interaction_rate=self.interaction_rate,
            reactivation_rate=self.reactivation_rate,
        )
        return data


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _window(room: LiveRoom) -> tuple[dt.datetime, dt.datetime]:
    return room.started_at or room.start_at, room.ended_at or timezone.now()


def _viewer_figures(room: LiveRoom) -> dict:
    """unique viewers = LiveViewer rows of the room (one per openid); member viewers = those who were members when
    first seen; likers = likes > 0; interactors = likes, comments, shares or product clicks > 0; total watch."""
    return LiveViewer.objects.filter(room=room).aggregate(
        viewers=Count("pk"),
        members=Count("pk", filter=Q(was_member=True)),
        watch=Sum("watch_seconds", default=0),
        likers=Count("pk", filter=Q(likes__gt=0)),
        interactors=Count("pk", filter=Q(likes__gt=0) | Q(comments__gt=0) | Q(shares__gt=0) | Q(product_clicks__gt=0)),
    )


def _orders_during(room: LiveRoom) -> tuple[int, int]:
    """Orders during the show = paid orders attributed to the room (LiveOrder: the buyer was watching within the
    attribution window) and placed within the show's window; GMV = their total_fen."""
    start, end = _window(room)
    row = Order.objects.filter(
        pk__in=LiveOrder.objects.filter(room=room).values("order_id"),
        created_at__gte=start,
        created_at__lte=end,
        paid_at__isnull=False,
    ).aggregate(n=Count("pk"), gmv=Sum("total_fen", default=0))
    return row["n"], row["gmv"]


def _orders_post_show(room: LiveRoom) -> tuple[int, int]:
    """Orders in the 72 hours after the show (coupon-driven) = paid orders placed in (end, end + 72 h] with one of
    the room's post-show coupons (issue key "live:<room>"); GMV = their total_fen."""
    if room.ended_at is None:
        return 0, 0
    row = Order.objects.filter(
        coupon__issue_key=f"live:{room.pk}",
        created_at__gt=room.ended_at,
        created_at__lte=room.ended_at + POST_SHOW,
        paid_at__isnull=False,
    ).aggregate(n=Count("pk"), gmv=Sum("total_fen", default=0))
    return row["n"], row["gmv"]


def _reactivation(room: LiveRoom, lookback_days: int) -> tuple[int, int]:
    """(lapsed member viewers, of them reactivated) — see LiveMetrics.reactivation_rate."""
    start, end = _window(room)
    paid = Order.objects.filter(member_id=OuterRef("member_id"), paid_at__isnull=False)
    lapsed = LiveViewer.objects.filter(room=room, was_member=True, member__isnull=False).exclude(
        Exists(paid.filter(paid_at__gte=start - dt.timedelta(days=lookback_days), paid_at__lt=start))
    )
    row = lapsed.aggregate(
        lapsed=Count("pk"),
        back=Count(
            "pk", filter=Q(Exists(paid.filter(paid_at__gte=start, paid_at__lte=(room.ended_at or end) + POST_SHOW)))
        ),
    )
    return row["lapsed"], row["back"]


def _add_room(m: LiveMetrics, room: LiveRoom, lookback_days: int) -> None:
    v = _viewer_figures(room)
    m.rooms += 1
    m.room_ids.append(room.pk)
    m.viewer_shows += v["viewers"]
    m.member_viewers += v["members"]
    m.non_member_viewers += v["viewers"] - v["members"]
    m.watch_seconds_total += v["watch"]
    m.likers += v["likers"]
    m.interactors += v["interactors"]
    stats = getattr(room, "stats", None)
    m.peak_concurrent = max(m.peak_concurrent, stats.peak_concurrent if stats else 0)
    m.new_members += LiveJoin.objects.filter(room=room).count()  # new members = members who joined from the room
    n, gmv = _orders_during(room)
    m.orders_during_show += n
    m.gmv_during_show_fen += gmv
    n, gmv = _orders_post_show(room)
    m.orders_post_show += n
    m.gmv_post_show_fen += gmv
    lapsed, back = _reactivation(room, lookback_days)
    m.lapsed_member_viewers += lapsed
    m.reactivated_members += back


def room_metrics(room: LiveRoom) -> LiveMetrics:
    """The metrics of one show (peak concurrent viewers: the highest number of viewers with a heartbeat in the
    same 45 seconds, as the events endpoint saw it)."""
    return rooms_metrics(LiveRoom.objects.filter(pk=room.pk))


def rooms_metrics(rooms: QuerySet[LiveRoom]) -> LiveMetrics:
    """The metrics of several shows: counts summed per show, rates as sums over sums, `unique_viewers` distinct
    openids across the shows, `peak_concurrent` the highest of any one show. A few queries per show."""
    m = LiveMetrics()
    lookback = live_settings().reactivation_lookback_days
    rooms = list(rooms.select_related("stats").order_by("start_at", "pk"))
    for room in rooms:
        _add_room(m, room, lookback)
    m.unique_viewers = (
        LiveViewer.objects.filter(room_id__in=m.room_ids).values("openid").distinct().count() if m.room_ids else 0
    )
    return m


def period_metrics(
    *,
    scope: StaffScope,
    date_from: dt.date,
    date_to: dt.date,
    store_id: int | None = None,
    brand_rooms_only: bool = False,
) -> LiveMetrics:
    """The shows the caller may see that started between two Asia/Shanghai dates (inclusive), optionally one
    store's or only brand (HQ) rooms."""
    start = dt.datetime.combine(date_from, dt.time.min, tzinfo=SHANGHAI)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min, tzinfo=SHANGHAI)
    rooms = rooms_for_scope(scope).filter(start_at__gte=start, start_at__lt=end).exclude(status=LiveRoom.Status.DRAFT)
    if store_id is not None:
        rooms = rooms.filter(store_id=store_id)
    if brand_rooms_only:
        rooms = rooms.filter(store__isnull=True)
    return rooms_metrics(rooms)
