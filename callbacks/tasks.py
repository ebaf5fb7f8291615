"""Celery tasks for the callback inbox: thin wrappers over callbacks.services.

`process_callbacks` is queued with `schema=<brand schema>` (core.tasks.BrandTask) and acks late: a message lost
with its worker is delivered again, and each row's claim makes the second run a no-op for what the first
committed. A message carries one or more events of one brand (several when they arrived together).
"""

from __future__ import annotations

from celery import shared_task

from callbacks import registry, services


@shared_task(name="callbacks.process", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def process_callbacks(event_ids: list[int]) -> list[str]:
    statuses = []
    for event_id in event_ids:
        outcome = services.callback_process(event_id=event_id)
        statuses.append(outcome.status)
        if outcome.retry_in is not None:
            # A failed attempt comes back after its backoff; if this message is lost the sweeper re-queues the
            # row once next_attempt_at is past.
            queue = registry.queue_for(outcome.kind) if outcome.kind else None
            process_callbacks.apply_async(
                args=[[event_id]], countdown=outcome.retry_in, **({"queue": queue} if queue else {})
            )
    return statuses


@shared_task(name="callbacks.sweep", ignore_result=True)
def sweep_callbacks() -> dict[str, int]:
    """Beat, every minute, in the public schema."""
    return services.callbacks_sweep()


@shared_task(name="callbacks.purge_rejected", ignore_result=True)
def purge_rejected_callbacks() -> int:
    """Beat, daily, in the public schema."""
    return services.callbacks_rejected_purge()
