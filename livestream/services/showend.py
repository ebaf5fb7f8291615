"""The end of a show: fold the audience, then post-show coupons (filled in by the coupons slice)."""
from __future__ import annotations

from livestream.models import LiveRoom


def end_of_show_step(*, room_id: int) -> dict:
    room = LiveRoom.objects.filter(pk=room_id).first()
    if room is None:
        return {"room": room_id, "state": "gone"}
    from livestream.services.audience import room_fold

    room_fold(room_id=room_id)
    LiveRoom.objects.filter(pk=room_id, coupon_state=LiveRoom.CouponState.ISSUING).update(
        coupon_state=LiveRoom.CouponState.DONE)
    return {"room": room_id, "state": "done"}
