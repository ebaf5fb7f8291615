"""Post-show coupons. A room may name coupon templates; when the show ends, every viewer who watched at least
the room's `min_watch_seconds` gets one of each, valid 72 hours from the end, exactly once.

- Issued in batches of EKR_LIVE_COUPON_BATCH viewers, each batch one transaction that also moves the room's
  cursor (`coupon_cursor`, a viewer id); a task run does a few batches and queues the next run, so 50,000 viewers
  are neither one transaction nor one task.
- Exactly once: the coupon's (template, member, issue_key "live:<room>") constraint with ON CONFLICT DO NOTHING
  (miniprograms.services.coupons.coupons_issue_batch). The end-of-show job run twice, concurrently or after a
  kill, issues nothing twice; a run killed midway is picked up by the next (acks_late redelivery, or the periodic
  sync, which re-queues rooms whose issue made no progress for EKR_LIVE_COUPON_STALE_SECONDS).
- Not-yet-members: a viewer who registers within the 72 hours gets theirs at registration (members hook).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from livestream.models import LiveRoom, LiveViewer
from members.models import Member
from miniprograms.models import CouponTemplate
from miniprograms.services.coupons import coupons_issue_batch

POST_SHOW_HOURS = 72


def issue_key(room_id: int) -> str:
    return f"live:{room_id}"


def valid_until(room: LiveRoom) -> dt.datetime:
    return room.ended_at + dt.timedelta(hours=POST_SHOW_HOURS)


@transaction.atomic
def room_coupons_set(*, room: LiveRoom, template_ids: list[int], min_watch_seconds: int | None = None) -> LiveRoom:
    """Choose the post-show coupon templates (and the minimum watch time) before the show ends."""
    room = LiveRoom.objects.select_for_update().get(pk=room.pk)
    if room.status == LiveRoom.Status.ENDED or room.coupon_state != LiveRoom.CouponState.NONE:
        raise Conflict(_("The show has ended; its coupons are fixed."), code="live_room_state")
    templates = list(CouponTemplate.objects.filter(pk__in=template_ids, active=True))
    missing = sorted(set(template_ids) - {t.pk for t in templates})
    if missing:
        raise ApplicationError(
            _("No such coupon template."), code="not_found", status_code=404, fields={"template_ids": missing}
        )
    room.coupon_templates.set(templates)
    if min_watch_seconds is not None:
        room.min_watch_seconds = min_watch_seconds
        room.save(update_fields=["min_watch_seconds", "updated_at"])
    return room


def viewers_link_members(*, room_id: int) -> int:
    """Viewer rows of members whose link was missed (they registered while a fold was running) get it now."""
    viewer_table, member_table = LiveViewer._meta.db_table, Member._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {viewer_table} v SET member_id = m.id FROM {member_table} m
                           WHERE v.room_id = %s AND v.member_id IS NULL AND m.openid = v.openid""",
            [room_id],
        )
        return cursor.rowcount


def post_show_coupons_step(*, room_id: int, max_batches: int = 10, batch_size: int | None = None) -> str:
    """Issue up to `max_batches` batches; returns the room's coupon state afterwards ("issuing": run again)."""
    batch_size = batch_size or settings.EKR_LIVE_COUPON_BATCH
    room = LiveRoom.objects.filter(pk=room_id).first()
    if room is None or room.coupon_state != LiveRoom.CouponState.ISSUING:
        return room.coupon_state if room else "gone"
    viewers_link_members(room_id=room_id)
    templates = list(room.coupon_templates.order_by("pk").values_list("pk", flat=True))
    for _batch in range(max_batches):
        with transaction.atomic():
            room = LiveRoom.objects.select_for_update().get(pk=room_id)  # one issuer per room at a time
            if room.coupon_state != LiveRoom.CouponState.ISSUING:
                return room.coupon_state
            batch = list(
                LiveViewer.objects.filter(
                    room_id=room_id,
                    id__gt=room.coupon_cursor,
                    watch_seconds__gte=room.min_watch_seconds,
                    member__isnull=False,
                )
                .order_by("id")
                .values_list("id", "member_id")[:batch_size]
            )
            if not batch or not templates or timezone.now() >= valid_until(room):
                room.coupon_state = LiveRoom.CouponState.DONE
                room.save(update_fields=["coupon_state", "updated_at"])
                return room.coupon_state
            member_ids = [member_id for _, member_id in batch]
            issued = sum(
                coupons_issue_batch(
                    template_id=t, member_ids=member_ids, issue_key=issue_key(room_id), valid_until=valid_until(room)
                )
                for t in templates
            )
            room.coupon_cursor = batch[-1][0]
            room.coupons_issued = F("coupons_issued") + issued
            room.save(update_fields=["coupon_cursor", "coupons_issued", "updated_at"])
    return LiveRoom.CouponState.ISSUING


def coupons_for_new_member(member: Member) -> int:
    """Runs at registration: the post-show coupons of rooms that ended within the last 72 hours where this openid
    watched long enough. Returns how many were issued (0 on a repeat)."""
    since = timezone.now() - dt.timedelta(hours=POST_SHOW_HOURS)
    rooms = LiveRoom.objects.filter(
        status=LiveRoom.Status.ENDED,
        ended_at__gt=since,
        viewers__openid=member.openid,
        viewers__watch_seconds__gte=F("min_watch_seconds"),
    ).distinct()
    issued = 0
    for room in rooms:
        for template_id in room.coupon_templates.order_by("pk").values_list("pk", flat=True):
            issued += coupons_issue_batch(
                template_id=template_id,
                member_ids=[member.pk],
                issue_key=issue_key(room.pk),
                valid_until=valid_until(room),
            )
    return issued


def rooms_with_stalled_coupons() -> list[int]:
    """Rooms whose post-show issue made no progress for EKR_LIVE_COUPON_STALE_SECONDS (the sweeper re-queues)."""
    stale = timezone.now() - dt.timedelta(seconds=settings.EKR_LIVE_COUPON_STALE_SECONDS)
    return list(
        LiveRoom.objects.filter(coupon_state=LiveRoom.CouponState.ISSUING, updated_at__lt=stale).values_list(
            "pk", flat=True
        )
    )
