"""Tiers (CardLevel): upgrades as soon as a threshold is met, downgrades on the tier anniversary."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import Conflict
from core.tasks import coalesce_release, enqueue_coalesced
from members import hooks
from members.models import CardLevel, Member, TierChange
from members.selectors import card_level_for, member_trailing_12m
from members.services.cards import member_card_sync_request

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TierMove:
    """A member already moved to `to_level_id` in bulk (an import); `first`: the member's first tier."""

    member_id: int
    from_level_id: int | None
    to_level_id: int | None
    first: bool


def one_year_after(moment: dt.datetime) -> dt.datetime:
    try:
        return moment.replace(year=moment.year + 1)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + 1, day=28)


@transaction.atomic
def card_level_create(
    *,
    name: str,
    rank: int,
    threshold_points: int = 0,
    threshold_spent_fen: int = 0,
    points_multiplier: Decimal | str = "1",
    benefits: str = "",
) -> CardLevel:
    if CardLevel.objects.filter(rank=rank).exists():
        raise Conflict(
            _("A tier with rank %(rank)s exists."), params={"rank": rank}, code="rank_taken", fields={"rank": ["taken"]}
        )
    level = CardLevel(
        name=name,
        rank=rank,
        threshold_points=threshold_points,
        threshold_spent_fen=threshold_spent_fen,
        points_multiplier=Decimal(str(points_multiplier)),
        benefits=benefits,
    )
    level.full_clean()
    level.save()
    return level


def _tier_change(*, member: Member, to_level: CardLevel | None, kind: str, reason: str, now: dt.datetime) -> None:
    """Write the history row, move the member (already locked) and ask for a card update."""

    TierChange.objects.create(
        member=member, from_level_id=member.tier_id, to_level=to_level, kind=kind, reason=reason[:200], created_at=now
    )
    member.tier = to_level
    member.tier_since = now
    member.tier_review_at = one_year_after(now) if to_level is not None else None
    member.save(update_fields=["tier", "tier_since", "tier_review_at", "updated_at"])
    member_card_sync_request(member=member)


def member_tiers_moved(
    *, moves: Sequence[TierMove], reason: str, now: dt.datetime | None = None, year_restarted: bool = False
) -> int:
    """The history of tier changes made in bulk, as `_tier_change` writes it for one member: a TierChange each
    (kind `initial` for a first tier, `import` otherwise) and the tier year restarted (tier_since now, review a
    year later). The members already carry their new tier; no card update (imported members have no card).
    `year_restarted`: the caller already wrote tier_since = `now` and tier_review_at = one_year_after(`now`) with
    the tier itself (the import's upsert does, sparing a second write of every member); only the history is
    written. Returns how many moves were recorded."""
    if not moves:
        return 0
    now = now or timezone.now()
    with connection.cursor() as cursor:  # one round trip for a batch of thousands
        cursor.execute(
            _HISTORY_SQL if year_restarted else _MOVED_SQL,
            {
                "ids": [m.member_id for m in moves],
                "from": [m.from_level_id for m in moves],
                "to": [m.to_level_id for m in moves],
                "first": [m.first for m in moves],
                "initial": TierChange.Kind.INITIAL,
                "other": TierChange.Kind.IMPORT,
                "reason": reason[:200],
                "now": now,
                "review": one_year_after(now),
            },
        )
    return len(moves)


_HISTORY_SQL = f"""
INSERT INTO {TierChange._meta.db_table} (member_id, from_level_id, to_level_id, kind, reason, created_at)
SELECT member_id, from_id, to_id, CASE WHEN first THEN %(initial)s ELSE %(other)s END, %(reason)s, %(now)s
FROM unnest(%(ids)s::bigint[], %(from)s::bigint[], %(to)s::bigint[], %(first)s::boolean[])
    AS m(member_id, from_id, to_id, first)
"""

_MOVED_SQL = f"""
WITH moves AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(from)s::bigint[], %(to)s::bigint[], %(first)s::boolean[])
        AS m(member_id, from_id, to_id, first)
), history AS (
    INSERT INTO {TierChange._meta.db_table} (member_id, from_level_id, to_level_id, kind, reason, created_at)
    SELECT member_id, from_id, to_id, CASE WHEN first THEN %(initial)s ELSE %(other)s END, %(reason)s, %(now)s
    FROM moves
)
UPDATE {Member._meta.db_table} SET tier_since = %(now)s, tier_review_at = %(review)s
FROM moves WHERE {Member._meta.db_table}.id = moves.member_id
"""


def _rank(level: CardLevel | None) -> int:
    return -1 if level is None else level.rank


@transaction.atomic
def member_tier_evaluate(*, member: Member, earned_points_12m: int, spent_fen_12m: int, reason: str) -> Member:
    """Record the member's trailing-12-month figures and upgrade at once if they meet a higher tier.
    Never downgrades (that waits for the tier anniversary: member_tier_review). For points and orders."""
    member = Member.objects.select_for_update(of=("self",)).select_related("tier").get(pk=member.pk)
    member.earned_points_12m = max(int(earned_points_12m), 0)
    member.spent_fen_12m = max(int(spent_fen_12m), 0)
    member.save(update_fields=["earned_points_12m", "spent_fen_12m", "updated_at"])
    target = card_level_for(earned_points_12m=member.earned_points_12m, spent_fen_12m=member.spent_fen_12m)
    if target is not None and _rank(target) > _rank(member.tier):
        _tier_change(member=member, to_level=target, kind=TierChange.Kind.UPGRADE, reason=reason, now=timezone.now())
    return member


TIER_EVAL = "member-tier"


def member_tier_evaluate_request(*, member: Member) -> None:
    """After points are earned (or an order is paid): re-check the member's tier from their trailing 12 months,
    in a task a moment after commit. Coalesced: a burst of earnings costs one evaluation."""

    enqueue_coalesced(
        "members.tier_refresh", name=TIER_EVAL, object_id=member.pk, delay=settings.EKR_MEMBER_TIER_EVAL_DELAY_SECONDS
    )


TIER_CHECKS = "member-tier-checks"  # the brand's sweep of marked members: one coalescing key a brand
TIER_CHECKS_BATCH = 500


def member_tier_checks_queue() -> None:
    """For a write that asked for the member's tier check in its own row (points_credit's mark, see hooks): after
    commit, make sure the brand's sweep of marks runs within EKR_MEMBER_TIER_EVAL_DELAY_SECONDS. Coalesced for the
    whole brand: a burst of paid orders, of one member or of thousands, queues one sweep, and a change while a sweep
    this process queued still waits costs no Redis call and no Celery send at all.

    A member's tier follows the change within that delay plus the sweep's queueing and run. A sweep lost on the way
    (Redis or the broker unreachable: logged, not raised; a crash after the commit) loses no check: the mark stays
    until a sweep clears it, and beat runs the sweep of every brand every EKR_MEMBER_TIER_SWEEP_SECONDS
    (settings.CELERY_BEAT_SCHEDULE)."""
    enqueue_coalesced(
        "members.tier_checks_run", name=TIER_CHECKS, object_id=0, delay=settings.EKR_MEMBER_TIER_EVAL_DELAY_SECONDS
    )


def tier_check_mark_ttl_seconds() -> int:
    """How long a tier check asked for in a row's mark covers later changes before a change asks again (and queues
    a sweep): as long as a coalescing key in Redis lives. Marks older than this are still swept."""
    return max(int(settings.EKR_MEMBER_TIER_EVAL_DELAY_SECONDS * 10), 60)


def member_tier_refresh(*, member_id: int) -> Member | None:
    """Upgrade the member now if their trailing-12-month points earned or amount spent meets a higher tier.

    First the requests are released (the Redis key, the marks of hooks.tier_check_marks_clear, which wait for an
    earn in flight), then the figures are read: a change committed after that asks for a check of its own."""
    coalesce_release(TIER_EVAL, member_id)
    return _tier_check(member_id)


def _tier_check(member_id: int) -> Member | None:
    hooks.tier_check_marks_clear(member_id)
    member = Member.objects.filter(pk=member_id).first()
    if member is None:
        return None
    earned, spent = member_trailing_12m(member)
    return member_tier_evaluate(
        member=member,
        earned_points_12m=earned,
        spent_fen_12m=spent,
        reason="trailing 12 months reached the tier's threshold",
    )


def member_tier_checks_run(*, limit: int = TIER_CHECKS_BATCH) -> tuple[int, bool]:
    """The brand's sweep of tier checks asked for in marks: the check of up to `limit` marked members (oldest mark
    first), each clearing its marks before it reads (as member_tier_refresh). Releases the brand's coalescing key
    first, so a mark set while it runs queues a sweep of its own. A member whose check fails is marked again
    (logged) for the next sweep. Returns (members checked, whether marked members may remain)."""
    coalesce_release(TIER_CHECKS, 0)
    member_ids = hooks.tier_check_marked(limit)
    checked = 0
    for member_id in member_ids:
        try:
            _tier_check(member_id)
        except Exception:
            logger.exception("tier check of member %s failed; marked again for the next sweep", member_id)
            hooks.tier_check_marks_restore(member_id)
            continue
        checked += 1
    return checked, len(member_ids) >= limit and checked > 0


@transaction.atomic
def member_tier_set(*, member: Member, level: CardLevel, reason: str) -> Member:
    """HQ sets a tier by hand (a complaint, a VIP). Counts as a change like any other."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.tier_id != level.pk:
        _tier_change(member=member, to_level=level, kind=TierChange.Kind.MANUAL, reason=reason, now=timezone.now())
    return member


@transaction.atomic
def member_tier_review(*, member_id: int, now: dt.datetime | None = None) -> Member | None:
    """The anniversary check: a member whose figures no longer meet their tier goes down to the tier they meet;
    one who still meets it keeps it for another year. A no-op before the review date (safe to run twice)."""
    now = now or timezone.now()
    member = Member.objects.select_for_update(of=("self",)).select_related("tier").filter(pk=member_id).first()
    if member is None or member.tier_review_at is None or member.tier_review_at > now:
        return member
    earned, spent = member_trailing_12m(member)
    target = card_level_for(earned_points_12m=earned, spent_fen_12m=spent)
    if _rank(target) < _rank(member.tier):
        _tier_change(
            member=member,
            to_level=target,
            kind=TierChange.Kind.DOWNGRADE,
            reason=f"anniversary review: {earned} points, {spent} fen in 12 months",
            now=now,
        )
    else:
        review = member.tier_review_at
        while review <= now:
            review = one_year_after(review)
        member.tier_review_at = review
        member.save(update_fields=["tier_review_at", "updated_at"])
    return member


def tier_downgrade_due(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Review every member whose tier anniversary has come (each in its own transaction). Returns the count."""
    now = now or timezone.now()
    reviewed = 0
    last_id = 0
    while True:
        ids = list(
            Member.objects.filter(tier_review_at__lte=now, id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            return reviewed
        for member_id in ids:
            member_tier_review(member_id=member_id, now=now)
            reviewed += 1
        last_id = ids[-1]
