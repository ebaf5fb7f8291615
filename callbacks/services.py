"""Every write to the callback inbox: receiving, rejecting, processing, sweeping and replaying.

The promises:
- A verified callback is stored once per (appid, dedup key), by one INSERT in the caller's transaction if any,
  else by the process's inbox writer together with the rows of concurrent requests (callbacks.group_commit: one
  statement and one commit for them all; the request returns once its row is committed). It is queued after that
  commit. If the broker is down the row stays `received` and the sweeper queues it later.
- Processing claims the row with a conditional UPDATE (one claimer wins), then runs the handler and flips the row
  to `done` in ONE transaction that holds the row lock: the handler's database effects and `done` commit
  together, so a duplicate or redelivered task, or a worker killed mid-handler, cannot make an event take effect
  twice. A claim left behind by a dead worker is unlocked; the sweeper gives it back to the queue.
"""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context

from callbacks import group_commit, handoff, registry
from callbacks.models import CallbackEvent
from core.tasks import task_named
from tenants.models import Brand, WeChatApp

logger = logging.getLogger(__name__)

Status = CallbackEvent.Status
CLAIMABLE = [Status.RECEIVED, Status.QUEUED, Status.FAILED]
REPLAYABLE = [Status.DEAD, Status.FAILED, Status.IGNORED]
RAW_KEPT_CHARS = 4096
MESSAGE_BATCH = 50  # events per Celery message at most
PROCESS_TASK = "callbacks.process"  # callbacks.tasks.process_callbacks, named: the tasks module imports this one


# --- receiving ------------------------------------------------------------------------------------------------


def callback_receive(
    *, app: WeChatApp, source: str, kind: str, dedup_key: str, payload: dict[str, Any], remote_addr: str | None = None
) -> tuple[CallbackEvent, bool]:
    """Store a verified callback and queue it after commit. Returns (row, created); a second delivery of the same
    event returns the first row and queues nothing. A kind without a handler is stored as `ignored`."""
    handled = registry.handler_for(kind) is not None
    event = CallbackEvent(
        brand_id=app.brand_id,
        appid=app.appid,
        source=source,
        kind=kind,
        dedup_key=dedup_key,
        payload=_clean_json(payload),
        remote_addr=remote_addr,
        status=Status.RECEIVED if handled else Status.IGNORED,
    )
    if not handled:
        event.last_error = "no handler registered for this kind"
    event.full_clean(exclude=["brand"], validate_unique=False, validate_constraints=False)
    schema = app.brand.schema_name
    if not connection.in_atomic_block:  # committed together with the rows of concurrent requests
        return _inbox.write(event, after_commit=_handoff_after_commit(schema) if handled else None)
    try:
        with transaction.atomic():  # a savepoint, so that a duplicate leaves the caller's transaction usable
            event.save()
    except IntegrityError:
        first = CallbackEvent.objects.filter(appid=app.appid, dedup_key=dedup_key).first()
        if first is None:
            raise
        return first, False
    if handled:
        item = handoff.Item(event_id=event.id, schema=schema, kind=kind)
        transaction.on_commit(lambda: _handoff.submit(item))
    return event, True


def _handoff_after_commit(schema: str):
    """What the inbox writer runs once a handled row is committed: hand it to the broker (never blocks)."""
    return lambda row: _handoff.submit(handoff.Item(event_id=row.id, schema=schema, kind=row.kind))


def callback_reject(
    *,
    appid: str,
    brand: Brand | None,
    source: str,
    kind: str,
    code: str,
    message: str,
    raw: bytes | str,
    remote_addr: str | None = None,
) -> CallbackEvent | None:
    """Keep a refused request as evidence (never processed; no dedup key, so it never blocks a real event).

    Bounded: at most EKR_CALLBACK_REJECTS_PER_MINUTE rows per (sender address, appid) a minute (beyond that
    nothing is stored and None is returned: the view answers 429), the body cut to RAW_KEPT_CHARS, and rows
    older than EKR_CALLBACK_REJECTED_RETENTION_DAYS purged daily (`callbacks_rejected_purge`)."""
    if not _reject_allowed(appid=appid, remote_addr=remote_addr):
        logger.warning("rejected callbacks from %s for %s over the limit; not stored", remote_addr, appid[:64])
        return None
    if isinstance(raw, bytes):
        raw = raw[: RAW_KEPT_CHARS * 4].decode("utf-8", "replace")
    return CallbackEvent.objects.create(
        brand=brand,
        appid=appid[:64],
        source=source,
        kind=kind[:64],
        dedup_key=None,
        status=Status.REJECTED,
        last_error=f"{code}: {message}"[:2000],
        raw=raw[:RAW_KEPT_CHARS].replace("\x00", "\ufffd"),
        remote_addr=remote_addr,
    )


def _reject_allowed(*, appid: str, remote_addr: str | None) -> bool:
    """An atomic Redis counter per (sender, appid) and minute. Redis down: allowed (the rows are still capped)."""
    import hashlib

    import redis

    from core.redis_client import redis_client

    limit = settings.EKR_CALLBACK_REJECTS_PER_MINUTE
    appid_key = hashlib.sha256(appid.encode("utf-8", "replace")).hexdigest()[:16]  # any junk the sender chose
    name = f"ekr:public:cb-reject:{remote_addr or '-'}:{appid_key}:{int(timezone.now().timestamp() // 60)}"
    try:
        pipe = redis_client().pipeline()
        pipe.incr(name)
        pipe.expire(name, 120)
        count, _ = pipe.execute()
    except redis.RedisError:
        return True
    return count <= limit


def callbacks_rejected_purge(*, older_than_days: int | None = None, batch: int = 5000) -> int:
    """Delete rejected rows older than the retention (they are evidence for a while, not forever), in batches.
    Returns how many were deleted. The beat job runs it daily in the public schema."""
    days = settings.EKR_CALLBACK_REJECTED_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    total = 0
    while True:
        ids = list(
            CallbackEvent.objects.filter(status=Status.REJECTED, received_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            return total
        total += CallbackEvent.objects.filter(id__in=ids, status=Status.REJECTED).delete()[0]


def events_publish(*, event_ids: list[int], schema: str, kind: str, producer: Any = None) -> bool:
    """Queue processing of events of one brand (and one queue) as one message. False when the broker cannot be
    reached. Several events per message when they arrive together: a publish costs more CPU than receiving."""
    options: dict[str, Any] = {"schema": schema, "retry": False}
    if producer is not None:
        options["producer"] = producer
    queue = registry.queue_for(kind)
    if queue:
        options["queue"] = queue
    try:
        task_named(PROCESS_TASK).apply_async(args=[list(event_ids)], **options)
    except Exception as exc:  # broker down: kombu raises several kinds
        logger.warning("callbacks %s not queued (%s); the sweeper will queue them", event_ids, exc)
        return False
    return True


def events_mark_queued(*, event_ids: list[int]) -> None:
    """Rows still `received` become `queued` (a worker may have claimed one already: then it is left alone)."""
    if event_ids:
        CallbackEvent.objects.filter(id__in=event_ids, status=Status.RECEIVED).update(
            status=Status.QUEUED, queued_at=timezone.now()
        )


def events_send(items: Iterable[tuple[int, str, str]], *, producer: Any = None) -> list[int]:
    """Publish (event id, schema, kind) items in messages of up to MESSAGE_BATCH events of one schema and queue;
    stop at the first broker failure. Returns the ids published (not yet marked queued)."""
    groups: dict[tuple[str, str | None], list[tuple[int, str]]] = {}
    for event_id, schema, kind in items:
        groups.setdefault((schema, registry.queue_for(kind)), []).append((event_id, kind))
    sent: list[int] = []
    for (schema, _queue), members in groups.items():
        for start in range(0, len(members), MESSAGE_BATCH):
            chunk = members[start : start + MESSAGE_BATCH]
            ids = [event_id for event_id, _ in chunk]
            if not events_publish(event_ids=ids, schema=schema, kind=chunk[0][1], producer=producer):
                return sent
            sent.extend(ids)
    return sent


def _handoff_send(batch: list[handoff.Item]) -> list[int]:
    """The hand-off thread's send: publish over one broker connection, then mark what went out `queued`."""
    sent: list[int] = []
    try:
        with current_app.producer_or_acquire() as producer:  # one broker connection for the batch
            sent = events_send(((i.event_id, i.schema, i.kind) for i in batch), producer=producer)
    finally:
        events_mark_queued(event_ids=sent)
    return sent


_handoff = handoff.BrokerHandoff(send=_handoff_send)
_inbox = group_commit.InboxWriter()


# --- processing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str  # done, ignored, failed, dead, or skipped (not claimable: done already, or someone else has it)
    retry_in: float | None = None
    kind: str | None = None


def callback_process(*, event_id: int) -> Outcome:
    """Run the registered handler for one inbox row, at most once to effect. See the module docstring."""
    claim = _claim(event_id)
    if claim is None:
        return Outcome("skipped")
    lease, schema = claim
    if connection.schema_name == schema:
        return _attempt(event_id, lease)
    logger.warning("callback %s processed from schema %s; switching to %s", event_id, connection.schema_name, schema)
    with schema_context(schema):
        return _attempt(event_id, lease)


def _claim(event_id: int) -> tuple[datetime, str] | None:
    """Take the row for one attempt (committed at once, so attempts count even if the worker dies). One claimer
    wins: the conditional UPDATE re-checks the status after waiting on a concurrent claim. Returns (lease, the
    brand's schema) or None when the row is done, dead, rejected, or being processed by someone else."""
    lease = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {CallbackEvent._meta.db_table} AS e SET status = %s, attempts = e.attempts + 1, "
            f"started_at = %s, next_attempt_at = NULL FROM {Brand._meta.db_table} AS b "
            f"WHERE e.id = %s AND e.status = ANY(%s) AND b.id = e.brand_id RETURNING b.schema_name",
            [Status.PROCESSING, lease, event_id, [str(s) for s in CLAIMABLE]],
        )
        row = cursor.fetchone()
    return (lease, row[0]) if row else None


def _attempt(event_id: int, lease: datetime) -> Outcome:
    try:
        return _run_handler(event_id, lease)
    except registry.IgnoreEvent as exc:
        return _finish(event_id, lease, Status.IGNORED, f"ignored by handler: {exc}")
    except registry.PermanentFailure as exc:
        return _finish(event_id, lease, Status.DEAD, f"PermanentFailure: {exc}")
    except Exception:
        logger.exception("callback %s failed", event_id)
        return _record_failure(event_id, lease, traceback.format_exc())


def _run_handler(event_id: int, lease: datetime) -> Outcome:
    with transaction.atomic():
        event = _locked_lease(event_id, lease)
        if event is None:
            return Outcome("skipped")
        handler = registry.handler_for(event.kind)
        if handler is None:
            status, note = Status.IGNORED, "no handler registered for this kind"
        else:
            handler(_handler_event(event))
            status, note = Status.DONE, ""
        _save_status(event, status, note)
    return Outcome(status)


def _finish(event_id: int, lease: datetime, status: str, note: str) -> Outcome:
    with transaction.atomic():
        event = _locked_lease(event_id, lease)
        if event is None:
            return Outcome("skipped")
        _save_status(event, status, note)
    return Outcome(status)


def _record_failure(event_id: int, lease: datetime, error: str) -> Outcome:
    with transaction.atomic():
        event = _locked_lease(event_id, lease)
        if event is None:
            return Outcome("skipped")
        if event.attempts >= settings.EKR_CALLBACK_MAX_ATTEMPTS:
            _save_status(event, Status.DEAD, error)
            return Outcome(Status.DEAD)
        delay = retry_delay(event.attempts)
        event.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        _save_status(event, Status.FAILED, error)
    return Outcome(Status.FAILED, retry_in=delay, kind=event.kind)


def retry_delay(attempts: int) -> float:
    """Exponential backoff with 10% jitter, capped (the cap stays under the broker's visibility timeout)."""
    base = settings.EKR_CALLBACK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    delay = min(base, settings.EKR_CALLBACK_RETRY_MAX_SECONDS)
    return round(delay * random.uniform(0.9, 1.1), 3)


def _locked_lease(event_id: int, lease: datetime) -> CallbackEvent | None:
    """The row, locked, if this attempt still owns it (a sweeper may have handed it to another attempt)."""
    return (
        CallbackEvent.objects.select_for_update()
        .filter(id=event_id, status=Status.PROCESSING, started_at=lease)
        .first()
    )


def _save_status(event: CallbackEvent, status: str, note: str) -> None:
    event.status = status
    event.last_error = note[-8000:]
    fields = ["status", "last_error", "next_attempt_at"]
    if status in (Status.DONE, Status.IGNORED, Status.DEAD):
        event.processed_at = timezone.now()
        event.next_attempt_at = None
        fields.append("processed_at")
    event.save(update_fields=fields)


def _handler_event(event: CallbackEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "appid": event.appid,
        "kind": event.kind,
        "brand_id": event.brand_id,
        "schema_name": connection.schema_name,
        "payload": event.payload,
        "received_at": event.received_at,
        "attempt": event.attempts,
    }


# --- sweeping and replaying -----------------------------------------------------------------------------------


def callbacks_sweep(
    *,
    received_after: float | None = None,
    queued_stale: float | None = None,
    processing_stale: float | None = None,
    failed_grace: float | None = None,
    batch: int = 500,
) -> dict[str, int]:
    """Queue again what would otherwise wait forever: rows received but never queued (broker down at commit),
    queued long ago (message lost), left `processing` by a dead worker (no lock held any more), or failed past
    their retry time (retry message lost). Rows a live worker holds are skipped. Returns counts per status."""
    s = settings
    now = timezone.now()

    def ago(seconds: float | None, default: float) -> datetime:
        return now - timedelta(seconds=default if seconds is None else seconds)

    due = (
        Q(status=Status.RECEIVED, received_at__lt=ago(received_after, s.EKR_CALLBACK_SWEEP_RECEIVED_AFTER))
        | Q(status=Status.QUEUED, queued_at__lt=ago(queued_stale, s.EKR_CALLBACK_SWEEP_QUEUED_STALE))
        | Q(status=Status.PROCESSING, started_at__lt=ago(processing_stale, s.EKR_CALLBACK_SWEEP_PROCESSING_STALE))
        | Q(status=Status.FAILED, next_attempt_at__lt=ago(failed_grace, s.EKR_CALLBACK_SWEEP_FAILED_GRACE))
    )
    counts: dict[str, int] = {}
    with transaction.atomic():
        rows = list(
            CallbackEvent.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("brand")
            .filter(due)
            .order_by("id")[:batch]
        )
        sent = set(events_send((row.id, row.brand.schema_name, row.kind) for row in rows))
        for row in rows:
            if row.id in sent:
                counts[row.status] = counts.get(row.status, 0) + 1
        CallbackEvent.objects.filter(id__in=sent).update(status=Status.QUEUED, queued_at=timezone.now())
    if counts:
        logger.info("callbacks sweep queued again: %s", counts)
    return counts


def callbacks_replay(*, event_ids: Iterable[int], brand: Brand | None = None) -> int:
    """Process dead, failed or ignored events again from a fresh attempt count (after a fix). Events done are
    never replayed (they took effect); rejected ones were never verified. `brand` limits to one brand's rows."""
    rows = CallbackEvent.objects.filter(id__in=list(event_ids), status__in=REPLAYABLE)
    if brand is not None:
        rows = rows.filter(brand=brand)
    with transaction.atomic():
        locked = list(rows.select_for_update(of=("self",)).select_related("brand").order_by("id"))
        for row in locked:
            row.status, row.attempts, row.last_error = Status.RECEIVED, 0, ""
            row.next_attempt_at = row.queued_at = row.processed_at = None
            row.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", "queued_at", "processed_at"])
        items = [(row.id, row.brand.schema_name, row.kind) for row in locked]
        # published now, not by the hand-off thread: a management command exits right after
        transaction.on_commit(lambda: events_mark_queued(event_ids=events_send(items)))
    logger.info("callbacks replayed: %s", [r.id for r in locked])
    return len(locked)


def _clean_json(value: Any) -> Any:
    """PostgreSQL jsonb refuses NUL characters."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v) for v in value]
    return value
