"""A Celery worker keeps its database connection from one task to the next (issue 17): Celery's Django fixup
would close it around every task, so each task paid for a new PostgreSQL backend."""

from __future__ import annotations

from types import SimpleNamespace

from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from ekr.celery import _connections_as_around_a_request, app


def _run_tasks(fixup: DjangoWorkerFixup, count: int) -> None:
    task = SimpleNamespace(request=SimpleNamespace(is_eager=False))  # a task a worker runs (not eager)
    for _ in range(count):
        fixup.on_task_prerun(sender=task)
        _connections_as_around_a_request(sender=task)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        fixup.on_task_postrun(sender=task)
        _connections_as_around_a_request(sender=task)


def test_tasks_reuse_the_connection_until_it_is_too_old(committed_db):
    fixup = DjangoWorkerFixup(app)
    connection.ensure_connection()
    connection.close_at = None  # as with CONN_MAX_AGE=None (the tests run with 0)
    first = connection.connection
    try:
        _run_tasks(fixup, 5)
        assert connection.connection is first
        connection.close_at = 0  # past its CONN_MAX_AGE: closed after the next task, as after a request
        _run_tasks(fixup, 1)
        assert connection.connection is not first
    finally:
        connection.close()
