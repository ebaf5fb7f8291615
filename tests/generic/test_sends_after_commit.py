"""A Celery send made after a transaction commits (core.tasks.enqueue, enqueue_coalesced) with the broker really
unreachable: the commit stands and nothing is raised out of `atomic()` (a request would answer 500 for writes that
stood), the hooks after it still run, and the failure is logged."""

from __future__ import annotations

import uuid

from django.db import connection, transaction

from core import tasks as core_tasks
from core.redis_client import redis_client


def _scratch_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS send_scratch (v text)")


def test_a_failed_send_after_commit_is_logged_not_raised(committed_db, broker_unreachable, caplog):
    _scratch_table()
    later = []
    value = uuid.uuid4().hex

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO send_scratch VALUES (%s)", [value])
        core_tasks.enqueue("core.probe", value)
        transaction.on_commit(lambda: later.append("ran"))

    assert not connection.in_atomic_block
    with connection.cursor() as cursor:  # committed: visible from outside any transaction
        cursor.execute("SELECT count(*) FROM send_scratch WHERE v = %s", [value])
        assert cursor.fetchone()[0] == 1
    assert later == ["ran"]  # the hooks after the failed send still ran
    assert "task core.probe (schema public) not queued" in caplog.text and "OperationalError" in caplog.text


def test_a_failed_coalesced_send_gives_its_key_back(committed_db, broker_unreachable, caplog):
    name = f"t-{uuid.uuid4().hex[:8]}"
    key = core_tasks.coalesce_key(connection.schema_name, name, 5)

    with transaction.atomic():
        core_tasks.enqueue_coalesced("core.probe", name=name, object_id=5, delay=30.0)

    assert redis_client().get(key) is None  # given back: the next change asks again ...
    assert core_tasks._queued_until.get(key, None) is None  # ... and this process does not think a run waits
    assert "task core.probe (schema public) not queued" in caplog.text
