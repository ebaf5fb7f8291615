"""Post-show coupons: which templates a room hands out, and to whom (filled in by the coupons slice)."""
from __future__ import annotations

from django.db import transaction

from core.errors import ApplicationError, Conflict
from livestream.models import LiveRoom
from miniprograms.models import CouponTemplate


@transaction.atomic
def room_coupons_set(*, room: LiveRoom, template_ids: list[int], min_watch_seconds: int | None = None) -> LiveRoom:
    """Choose the post-show coupon templates (and the minimum watch time) before the show ends."""
    room = LiveRoom.objects.select_for_update().get(pk=room.pk)
    if room.status == LiveRoom.Status.ENDED or room.coupon_state != LiveRoom.CouponState.NONE:
        raise Conflict("The show has ended; its coupons are fixed.", code="live_room_state")
    templates = list(CouponTemplate.objects.filter(pk__in=template_ids, active=True))
    missing = sorted(set(template_ids) - {t.pk for t in templates})
    if missing:
        raise ApplicationError("No such coupon template.", code="not_found", status_code=404,
                               fields={"template_ids": missing})
    room.coupon_templates.set(templates)
    if min_watch_seconds is not None:
        room.min_watch_seconds = min_watch_seconds
        room.save(update_fields=["min_watch_seconds", "updated_at"])
    return room


def coupons_for_new_member(member) -> int:
    """Filled in by the coupons slice."""
    return 0
