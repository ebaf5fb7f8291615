"""Several workers claim the same inbox row at the same moment (threads with their own database connections,
started together by a barrier): exactly one claim wins, the handler runs once, attempts count one.

To make "the same moment" exact rather than likely, the test holds the row's lock while the workers start, and
lets go only once every worker is waiting on it (seen in pg_stat_activity): every worker has then read the row as
claimable before any claim commits, the interleaving a read-then-update claim gets wrong."""

from __future__ import annotations

import threading
import uuid

import pytest
from django.db import connection, connections, transaction

from callbacks.models import CallbackEvent
from callbacks.services import callback_process
from tests.callbacks.handlers import EFFECT_KIND, effect_table_create, effects
from tests.helpers import wait_until

WORKERS = 6


def _waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # inside a transaction the view is a snapshot
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def _race(event_id: int) -> list[str]:
    barrier = threading.Barrier(WORKERS + 1)
    outcomes: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            outcomes.append(callback_process(event_id=event_id).status)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    with transaction.atomic():
        # the row is held: every worker's claim has to wait for it
        CallbackEvent.objects.select_for_update().get(id=event_id)
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        wait_until(lambda: errors or _waiting_on_a_lock() >= WORKERS, timeout=30, message="workers at the claim")
        assert not errors, errors
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert len(outcomes) == WORKERS
    return outcomes


@pytest.mark.parametrize("status", ["received", "failed"])
def test_workers_racing_for_one_event_claim_it_once(new_brand, status):
    brand = new_brand("race")
    effect_table_create(brand.schema_name)
    event = CallbackEvent.objects.create(
        brand=brand,
        appid=brand.wechat_apps.first().appid,
        source="message",
        kind=EFFECT_KIND,
        dedup_key=uuid.uuid4().hex,
        status=status,
        payload={"FromUserName": "o-race"},
    )

    outcomes = _race(event.id)

    assert sorted(outcomes) == ["done"] + ["skipped"] * (WORKERS - 1)
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("done", 1)
    assert effects(brand.schema_name) == [(event.id, brand.schema_name)]
