"""Group commit of inbox rows (callbacks.group_commit): requests arriving together share one INSERT and one commit,
each answered only once its own row is committed, with one effect per (appid, dedup key) and one outcome per row.

To make "arriving together" exact rather than likely, a test holds a lock that makes the writer's INSERT wait
(seen in pg_stat_activity), lets the other requests queue up behind it, and lets go only once all of them are
waiting: they then make up the next batch, whatever the machine's speed."""

from __future__ import annotations

import os
import threading
import uuid
from contextlib import contextmanager

import psycopg2
import pytest
from django.db import DatabaseError, connection, connections

from callbacks import services
from callbacks.group_commit import InboxWriter
from callbacks.models import CallbackEvent
from tests.callbacks.conftest import post_xml, sender_for
from tests.callbacks.wechat import event_xml
from tests.helpers import wait_until

Status = CallbackEvent.Status
TABLE = CallbackEvent._meta.db_table


def row(app, key: str, **payload) -> CallbackEvent:
    """An inbox row as callback_receive hands it over (validated, unsaved); a kind without a handler."""
    event = CallbackEvent(
        brand_id=app.brand_id,
        appid=app.appid,
        source=CallbackEvent.Source.MESSAGE,
        kind="event.ekr_group_commit",
        dedup_key=key,
        payload={"FromUserName": key, **payload},
        status=Status.IGNORED,
    )
    event.full_clean(exclude=["brand"], validate_unique=False, validate_constraints=False)
    return event


def stored(app, key: str) -> list[int]:
    return list(CallbackEvent.objects.filter(appid=app.appid, dedup_key=key).values_list("id", flat=True))


def _writer_blocked() -> bool:
    """Some session waits on a lock in an INSERT into the inbox (the writer, behind the test's lock)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' "
            "AND query LIKE %s",
            [f"INSERT INTO {TABLE} %"],
        )
        return cursor.fetchone()[0] > 0


@contextmanager
def inbox_locked():
    """Another session holds a lock on the inbox that makes every INSERT wait until the block exits."""
    conn = psycopg2.connect(**connection.get_connection_params())
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"LOCK TABLE public.{TABLE} IN SHARE MODE")
        yield
    finally:
        conn.rollback()
        conn.close()


class Deliveries:
    """`write(event)` on a writer from threads that start together; results[i] is (row id, created) or the error."""

    def __init__(self, writer: InboxWriter, events: list[CallbackEvent]):
        self.writer, self.events = writer, events
        self.results: list[object] = [None] * len(events)
        self.barrier = threading.Barrier(len(events))
        self.threads = [threading.Thread(target=self._one, args=(n,)) for n in range(len(events))]

    def _one(self, n: int) -> None:
        self.barrier.wait(timeout=30)
        try:
            event, created = self.writer.write(self.events[n], after_commit=self.committed.append)
            self.results[n] = (event.id, created)
        except BaseException as exc:
            self.results[n] = exc

    committed: list[CallbackEvent]

    def start(self) -> Deliveries:
        self.committed = []
        for thread in self.threads:
            thread.start()
        return self

    def join(self) -> list[object]:
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in self.threads)
        return self.results


def behind_a_plug(writer: InboxWriter, app, events: list[CallbackEvent]) -> tuple[Deliveries, list[object]]:
    """Write a first row that the writer is made to wait on, then `events` from threads started together; let
    the writer go once all of them wait. Returns the deliveries and the results of the plug."""
    with inbox_locked():
        plug = Deliveries(writer, [row(app, "plug-" + uuid.uuid4().hex)]).start()
        wait_until(_writer_blocked, timeout=30, message="the writer waiting on the lock")
        deliveries = Deliveries(writer, events).start()
        wait_until(lambda: writer.waiting() == len(events) + 1, timeout=30, message="every delivery waiting")
        # nothing is answered while its row is not committed
        assert plug.results == [None] and deliveries.results == [None] * len(events)
    return deliveries, plug.join()


@pytest.fixture
def app(new_brand):
    return new_brand("gc").wechat_apps.first()


def test_concurrent_deliveries_share_one_commit_and_each_is_stored_once(app):
    writer = InboxWriter()
    keys = [f"k{n}-{uuid.uuid4().hex[:6]}" for n in range(12)]
    # given twelve deliveries arriving while a batch is being committed
    deliveries, plug = behind_a_plug(writer, app, [row(app, key) for key in keys])
    results = deliveries.join()
    # then the twelve were written by one statement after the plug's
    assert writer.stats.batches == 2
    assert writer.stats.rows == 13 and writer.stats.fallbacks == 0
    # and each is stored exactly once, answered with its own committed row, and handed on once
    for key, result in zip(keys, results, strict=True):
        assert stored(app, key) == [result[0]]
        assert result[1] is True
    assert sorted(e.dedup_key for e in deliveries.committed) == sorted(keys)
    assert plug[0][1] is True


def test_a_delivery_arriving_alone_is_written_at_once(app):
    writer = InboxWriter()
    event, created = writer.write(row(app, "alone"))
    assert created and stored(app, "alone") == [event.id]
    assert event.received_at is not None and writer.stats.batches == 1


def test_duplicates_in_one_batch_and_of_a_stored_event_have_one_effect(app, new_brand):
    writer = InboxWriter()
    other = new_brand("gc").wechat_apps.first()
    earlier, _ = writer.write(row(app, "stored-before"))
    # given six deliveries of one event in one batch, the same dedup key from another brand's app, and a
    # delivery of an event stored before
    events = [row(app, "dup") for _ in range(6)] + [row(other, "dup"), row(app, "stored-before")]
    deliveries, _ = behind_a_plug(writer, app, events)
    results = deliveries.join()
    assert writer.stats.batches == 3  # earlier, the plug, then the eight together
    # then the event is stored once: one delivery created it, the five others got its row
    (dup_id,) = stored(app, "dup")
    assert sorted(results[:6], key=lambda r: not r[1]) == [(dup_id, True)] + [(dup_id, False)] * 5
    # the other brand's event is its own
    assert results[6] == (stored(other, "dup")[0], True) and results[6][0] != dup_id
    # the redelivery gets the stored row, not created
    assert results[7] == (earlier.id, False)
    # and only the created rows were handed on
    assert sorted((e.appid, e.dedup_key) for e in deliveries.committed) == sorted(
        [(app.appid, "dup"), (other.appid, "dup")]
    )


@pytest.fixture
def refused_at_commit(committed_db):
    """A deferred constraint trigger refusing rows whose payload has "refuse": the refusal comes at commit."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION public.cb_test_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.payload ? 'refuse' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE CONSTRAINT TRIGGER cb_test_refuse AFTER INSERT ON public.{TABLE} DEFERRABLE INITIALLY DEFERRED "
            "FOR EACH ROW EXECUTE FUNCTION public.cb_test_refuse()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER cb_test_refuse ON public.{TABLE}")
        cursor.execute("DROP FUNCTION public.cb_test_refuse()")


def test_a_row_refused_at_commit_answers_its_error_and_its_neighbours_are_stored(app, refused_at_commit):
    writer = InboxWriter()
    # given a batch of five where one row makes the commit fail
    events = [row(app, f"good{n}") for n in range(4)] + [row(app, "bad", refuse=True)]
    deliveries, _ = behind_a_plug(writer, app, events)
    results = deliveries.join()
    # then that request gets the database's error, and its row is not there
    assert isinstance(results[4], DatabaseError) and "refused by the test" in str(results[4])
    assert stored(app, "bad") == []
    # and the batch was written again row by row: the four others are stored and answered as created
    assert writer.stats.fallbacks == 1
    for n in range(4):
        assert results[n] == (stored(app, f"good{n}")[0], True)
    assert sorted(e.dedup_key for e in deliveries.committed) == [f"good{n}" for n in range(4)]


def test_a_batch_that_cannot_commit_answers_every_request_with_the_error(app, refused_at_commit):
    writer = InboxWriter()
    deliveries, _ = behind_a_plug(writer, app, [row(app, f"bad{n}", refuse=True) for n in range(3)])
    results = deliveries.join()
    assert all(isinstance(r, DatabaseError) for r in results), results
    assert deliveries.committed == []
    assert not CallbackEvent.objects.filter(appid=app.appid, dedup_key__startswith="bad").exists()


def test_a_forked_process_writes_through_a_writer_of_its_own(app):
    writer = InboxWriter(wait_seconds=20)
    writer.write(row(app, "parent"))  # the parent's writer thread is running
    pid = os.fork()
    if pid == 0:  # the child: no writer thread came with the fork
        try:
            event, created = writer.write(row(app, "child"))
            os._exit(0 if created and event.id else 1)
        except BaseException:
            os._exit(2)

    def reaped() -> tuple[int] | None:
        done, status = os.waitpid(pid, os.WNOHANG)
        return (status,) if done else None

    (status,) = wait_until(reaped, timeout=30, message="the child")
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(stored(app, "child")) == 1


def test_concurrent_callbacks_over_http_are_answered_after_one_shared_commit(new_brand, client_for):
    brand = new_brand("gc")
    sender = sender_for(brand)
    posts = [sender.safe(event_xml(event="ekr_group_commit", from_user=f"oGc{n}")) for n in range(8)]
    responses: list[object] = [None] * len(posts)
    barrier = threading.Barrier(len(posts))

    def deliver(n: int) -> None:
        barrier.wait(timeout=30)
        try:
            responses[n] = post_xml(client_for(brand), *posts[n])
        finally:
            connections.close_all()

    batches = services._inbox.stats.batches
    threads = [threading.Thread(target=deliver, args=(n,)) for n in range(len(posts))]
    with inbox_locked():
        for thread in threads:
            thread.start()
        wait_until(lambda: services._inbox.waiting() == len(posts), timeout=30, message="every callback waiting")
        wait_until(_writer_blocked, timeout=30, message="the writer waiting on the lock")
        assert responses == [None] * len(posts)  # nobody is told "success" before the row is committed
    for thread in threads:
        thread.join(timeout=60)
    connection.set_schema_to_public()
    assert [(r.status_code, r.content) for r in responses] == [(200, b"success")] * len(posts)
    assert services._inbox.stats.batches - batches <= 2
    rows = CallbackEvent.objects.filter(appid=sender.appid)
    assert sorted(rows.values_list("payload__FromUserName", flat=True)) == [f"oGc{n}" for n in range(8)]
    assert set(rows.values_list("status", flat=True)) == {Status.IGNORED}
