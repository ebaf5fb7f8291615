"""The end of a show, one task run at a time: fold what is left of the audience, then a few batches of post-show
coupons. `end_of_show_step` says whether another run is needed."""

from __future__ import annotations

from livestream.models import LiveRoom
from livestream.services.audience import room_fold
from livestream.services.coupons import post_show_coupons_step


def end_of_show_step(*, room_id: int, batch_size: int | None = None, max_batches: int = 10) -> dict:
    if not LiveRoom.objects.filter(pk=room_id).exists():
        return {"room": room_id, "state": "gone"}
    room_fold(room_id=room_id)
    state = post_show_coupons_step(room_id=room_id, batch_size=batch_size, max_batches=max_batches)
    return {"room": room_id, "state": state}
