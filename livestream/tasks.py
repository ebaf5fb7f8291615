"""Live tasks. Thin: load, call a service. Every task runs in the brand's schema it was queued from."""

from celery import shared_task

from core.tasks import BrandTask


@shared_task(base=BrandTask, name="livestream.sync_rooms")
def sync_rooms() -> dict:
    """Per brand (core.fan_out_to_brands): poll room status and goods audits; a no-op without active rooms."""
    from livestream.services.sync import rooms_sync

    result = rooms_sync()
    return {
        "changed": result.changed,
        "ended": result.ended,
        "goods_changed": result.goods_changed,
        "error": result.error,
    }


@shared_task(base=BrandTask, name="livestream.end_of_show", acks_late=True, reject_on_worker_lost=True)
def end_of_show(room_id: int, batch_size: int | None = None) -> dict:
    """Fold what is left of the audience, then issue post-show coupons in batches; re-queues itself until done
    (so 50,000 viewers are many short transactions over several task runs). Safe to run twice or to resume
    after a kill: every step is keyed."""
    from livestream.services.showend import end_of_show_step

    result = end_of_show_step(room_id=room_id, batch_size=batch_size)
    if result["state"] == "issuing":
        end_of_show.apply_async(args=[room_id], kwargs={"batch_size": batch_size})  # the next few batches
    return result


@shared_task(base=BrandTask, name="livestream.fold_room", acks_late=True, reject_on_worker_lost=True)
def fold_room(room_id: int) -> int:
    """Fold a room's acknowledged events into PostgreSQL (queued by the events endpoint a few seconds after the
    first unfolded batch; the periodic sync and the end of the show fold too)."""
    from django.db import connection

    from core.redis_client import redis_client
    from livestream.services.audience import keys, room_fold

    redis_client().delete(keys(connection.schema_name, room_id)["fold"])  # later events queue a fresh fold
    return room_fold(room_id=room_id)


@shared_task(base=BrandTask, name="livestream.push_followers")
def push_followers(room_id: int) -> str:
    """Tell the followers a WeChat show started, once (queued when the sync first sees the room live). WeChat's
    answers "already pushed today" (9410005) and "not live" (9410006) are recorded on the room, not retried."""
    from livestream.models import LiveRoom
    from livestream.services.rooms import room_push_followers
    from livestream.wechat import LiveWeChatError

    room = LiveRoom.objects.filter(pk=room_id).first()
    if room is None or room.push_state:
        return room.push_state if room else "gone"
    try:
        room_push_followers(room=room)
    except LiveWeChatError as exc:
        if exc.errcode is None:
            raise  # WeChat unreachable: a plain failure, the next sync does not re-queue it (push_state unset)
    room.refresh_from_db()
    return room.push_state
