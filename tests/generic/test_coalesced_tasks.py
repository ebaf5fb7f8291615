"""enqueue_coalesced: a burst of changes to one object costs one task run and, within this process, one Redis call."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from core import tasks as core_tasks
from core.redis_client import redis_client


@pytest.fixture(autouse=True)
def _in_alpha(brand_a):
    connection.set_tenant(brand_a)
    yield
    connection.set_schema_to_public()


def _request(object_id: int, delay: float, name: str) -> None:
    core_tasks.enqueue_coalesced("core.probe", name=name, object_id=object_id, delay=delay)


def test_a_burst_costs_one_redis_call_until_the_run_starts(brand_a, django_capture_on_commit_callbacks):
    name = f"t-{uuid.uuid4().hex[:8]}"
    key = core_tasks.coalesce_key(connection.schema_name, name, 7)
    with django_capture_on_commit_callbacks(execute=True):
        _request(7, 30.0, name)
    assert redis_client().get(key) == b"1"  # queued: the key marks the waiting run

    redis_client().delete(key)  # were this process to ask Redis again, it would set the key anew
    with django_capture_on_commit_callbacks(execute=True):
        _request(7, 30.0, name)
        _request(7, 30.0, name)
    assert redis_client().get(key) is None  # covered by the waiting run: no Redis call

    core_tasks.coalesce_release(name, 7)  # the run starts: the next change needs a fresh run
    with django_capture_on_commit_callbacks(execute=True):
        _request(7, 30.0, name)
    assert redis_client().get(key) == b"1"
    core_tasks.coalesce_release(name, 7)


def test_no_memo_when_the_delay_is_within_the_clock_margin(brand_a, django_capture_on_commit_callbacks):
    name = f"t-{uuid.uuid4().hex[:8]}"
    key = core_tasks.coalesce_key(connection.schema_name, name, 8)
    with django_capture_on_commit_callbacks(execute=True):
        _request(8, core_tasks.COALESCE_MARGIN_SECONDS, name)
    redis_client().delete(key)

    with django_capture_on_commit_callbacks(execute=True):
        _request(8, core_tasks.COALESCE_MARGIN_SECONDS, name)

    assert redis_client().get(key) == b"1"  # asked Redis again: the run may already have started
    core_tasks.coalesce_release(name, 8)


def test_the_memo_is_per_brand(brand_a, brand_b, django_capture_on_commit_callbacks):
    name = f"t-{uuid.uuid4().hex[:8]}"
    with django_capture_on_commit_callbacks(execute=True):
        _request(9, 30.0, name)
    connection.set_tenant(brand_b)
    beta_key = core_tasks.coalesce_key(brand_b.schema_name, name, 9)

    with django_capture_on_commit_callbacks(execute=True):
        _request(9, 30.0, name)

    assert redis_client().get(beta_key) == b"1"  # the same object id in another brand is another object
    core_tasks.coalesce_release(name, 9)
    connection.set_tenant(brand_a)
    core_tasks.coalesce_release(name, 9)
