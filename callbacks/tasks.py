"""Celery tasks for the callback inbox: thin wrappers over callbacks.services.

`process_callback` is queued with `schema=<brand schema>` (core.tasks.BrandTask) and acks late: a message lost
with its worker is delivered again, and the row's claim makes the second run a no-op once the first committed.
"""
from __future__ import annotations

from celery import shared_task

from callbacks import registry, services


@shared_task(name="callbacks.process", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_callback(event_id: int) -> str:
    outcome = services.callback_process(event_id=event_id)
    if outcome.retry_in is not None:
        # A failed attempt comes back after its backoff; if this message is lost the sweeper re-queues the row
        # once next_attempt_at is past.
        queue = registry.queue_for(outcome.kind) if outcome.kind else None
        process_callback.apply_async(args=[event_id], countdown=outcome.retry_in,
                                     **({"queue": queue} if queue else {}))
    return outcome.status


@shared_task(name="callbacks.sweep", ignore_result=True)
def sweep_callbacks() -> dict[str, int]:
    """Beat, every minute, in the public schema."""
    return services.callbacks_sweep()
