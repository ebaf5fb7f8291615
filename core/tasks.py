"""Tenant-aware Celery tasks, written once.

- A task queued while the connection is in a brand's schema carries that schema in a message header and runs in
  it; the worker always resets to public afterwards, so no task inherits the previous task's schema.
- `enqueue(task, ...)` queues after the current transaction commits (nothing runs on data that may roll back).
  A send that fails then (the broker unreachable) is logged, never raised: the transaction's writes stand, so the
  request must not answer 500 for them, and the hooks after it still run. The work must be findable by a sweep
  (e.g. miniprograms.refunds_send_stuck, members.tier_checks_run, the callbacks sweeper).
  A service names the task (`enqueue("members.card_update", ...)`) rather than importing its app's tasks
  module: tasks import services, so services importing tasks back would make a circle.
- `fan_out_to_brands` is the beat entry point for per-brand jobs: one message per active brand, spread over a
  window so 500 brands do not all fire in the same second.
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import Any

from celery import Task, shared_task
from django.db import connection, transaction

from core.process_cache import BoundedTTLCache
from core.redis_client import redis_client

logger = logging.getLogger(__name__)

SCHEMA_HEADER = "ekr_schema"


def current_schema() -> str:
    return getattr(connection, "schema_name", "public")


class BrandTask(Task):
    """Runs in the schema it was queued from (or the one named with `schema=` in `apply_async`)."""

    def apply_async(
        self, args=None, kwargs=None, task_id=None, producer=None, link=None, link_error=None, shadow=None, **options
    ):
        schema = options.pop("schema", None) or current_schema()
        headers = dict(options.pop("headers", None) or {})
        headers[SCHEMA_HEADER] = schema
        return super().apply_async(
            args, kwargs, task_id, producer, link, link_error, shadow, headers=headers, **options
        )

    def _schema_of_request(self) -> str | None:
        request = self.request
        schema = getattr(request, SCHEMA_HEADER, None)
        if schema is None and isinstance(getattr(request, "headers", None), dict):
            schema = request.headers.get(SCHEMA_HEADER)
        return schema

    def __call__(self, *args, **kwargs):
        schema = self._schema_of_request()
        if schema is None:  # called directly (not through a worker): keep the caller's schema
            return super().__call__(*args, **kwargs)
        from django_tenants.utils import get_tenant_model

        try:
            if schema == "public":
                connection.set_schema_to_public()
            else:
                brand = get_tenant_model().objects.filter(schema_name=schema).first()
                if brand is None:
                    logger.error("task %s for unknown schema %s dropped", self.name, schema)
                    return None
                connection.set_tenant(brand)
            return super().__call__(*args, **kwargs)
        finally:
            connection.set_schema_to_public()


def task_named(name: str) -> Task:
    """The registered Celery task called `name` (loading every app's tasks module the first time, as a web
    process has not imported them)."""
    from celery import current_app

    try:
        return current_app.tasks[name]
    except KeyError:
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
        return current_app.tasks[name]


def enqueue(task: Task | str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Queue `task` (or the task of that name) in the current schema once the current transaction commits (at
    once outside one). A failed send is logged, not raised (see the module's docstring)."""
    if isinstance(task, str):
        task = task_named(task)
    schema = current_schema()

    def send() -> None:
        publish(task, schema=schema, args=args, kwargs=kwargs, countdown=countdown)

    transaction.on_commit(send)


def publish(task: Task, *, schema: str, args=(), kwargs=None, countdown: float | None = None) -> bool:
    """Send `task` to the broker now, in `schema`. False (logged) when the send fails: for callers running after a
    commit, whose writes stand whatever the broker says."""
    options: dict[str, Any] = {"schema": schema}
    if countdown:
        options["countdown"] = countdown
    try:
        task.apply_async(args=list(args), kwargs=kwargs or {}, **options)
    except Exception:
        logger.exception("task %s (schema %s) not queued: the broker refused or is unreachable", task.name, schema)
        return False
    return True


def sends_repeat_stale(queryset, *, field: str, task: str, now, older_than, limit: int) -> int:
    """For a sweep of work whose run was sent but has not happened: send `task` again (with the object's id) for up
    to `limit` rows of `queryset` whose `field` (when the run was last sent) is older than `now - older_than`,
    oldest first, setting `field` to `now` in the same transaction as the send's hook (so the next sweep waits
    again). `queryset` says which rows still wait; the task must be safe to run twice. Returns how many were sent."""
    ids = list(
        queryset.filter(**{f"{field}__lt": now - older_than}).order_by(field).values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for object_id in ids:
        with transaction.atomic():
            if queryset.filter(pk=object_id).update(**{field: now}):  # still waiting (not finished meanwhile)
                enqueue(task, object_id)
                sent += 1
    return sent


def coalesce_key(schema: str, name: str, object_id: int) -> str:
    return f"ekr:{schema}:coalesce:{name}:{object_id}"


# A run this process queued is known to be waiting until (about) its countdown ends: changes committed before then
# are seen by it, so they need no Redis round trip. The margin covers clock skew between this host and the worker.
# Values are those deadlines (monotonic); entries outlive any countdown we use and the cache is bounded.
COALESCE_MARGIN_SECONDS = 0.25
_queued_until: BoundedTTLCache[float] = BoundedTTLCache(max_entries=10_000, ttl=lambda: 300)


def enqueue_coalesced(task: Task | str, *, name: str, object_id: int, delay: float) -> None:
    """After commit, queue `task(object_id)` in `delay` seconds unless one is already waiting for this object.

    A burst of changes to one object costs one task run. The task calls `coalesce_release(name, object_id)`
    first thing, so a change made while it runs queues a fresh run. The Redis key carries the schema. A change
    committed while a run this process queued has not yet started costs no Redis call at all. Redis or the broker
    unreachable: logged, not raised, and the key is given back (the next change asks again).
    """
    if isinstance(task, str):
        task = task_named(task)
    schema = current_schema()

    def schedule() -> None:
        key = coalesce_key(schema, name, object_id)
        if _queued_until.get(key, 0.0) > time.monotonic():
            return
        try:
            client = redis_client()
            if not client.set(key, "1", nx=True, ex=max(int(delay * 10), 60)):
                return
        except Exception:  # after commit: logged, not raised (see the module's docstring)
            logger.exception("%s of %s (schema %s) not queued: Redis unreachable", name, object_id, schema)
            return
        if not publish(task, schema=schema, args=[object_id], countdown=delay):
            try:
                client.delete(key)  # the next change asks again
            except Exception:
                logger.exception("coalescing key %s left until it expires", key)
            return
        if delay > COALESCE_MARGIN_SECONDS:
            _queued_until.set(key, time.monotonic() + delay - COALESCE_MARGIN_SECONDS)

    transaction.on_commit(schedule)


def coalesce_release(name: str, object_id: int) -> None:
    key = coalesce_key(current_schema(), name, object_id)
    _queued_until.pop(key)  # the run has started (here, when the task runs in this process)
    redis_client().delete(key)


def spread_seconds(schema: str, window: int) -> int:
    """A stable offset in [0, window) for a brand, so per-brand jobs are spread evenly over the window."""
    return zlib.crc32(schema.encode()) % max(window, 1)


@shared_task(name="core.fan_out_to_brands")
def fan_out_to_brands(task_name: str, window_seconds: int = 300, kwargs: dict | None = None) -> int:
    """Queue `task_name` once for each active brand, each at its own offset within `window_seconds`."""
    from celery import current_app
    from django_tenants.utils import get_tenant_model

    Brand = get_tenant_model()  # the tenant registry, named by settings: core imports no app
    task = current_app.tasks[task_name]
    count = 0
    for schema in (
        Brand.objects.exclude(schema_name="public")
        .filter(status=Brand.Status.ACTIVE)
        .values_list("schema_name", flat=True)
    ):
        task.apply_async(kwargs=kwargs or {}, schema=schema, countdown=spread_seconds(schema, window_seconds))
        count += 1
    return count


@shared_task(name="core.probe")
def probe(token: str) -> str:
    """Writes the schema the worker ran in under `ekr:probe:<schema-of-caller>:<token>` (a health check that
    proves tasks run in the schema they were queued from; the isolation tests use it)."""
    schema = current_schema()
    redis_client().set(f"ekr:probe:{token}", schema, ex=300)
    return schema
