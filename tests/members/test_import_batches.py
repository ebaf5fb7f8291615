"""Issue 17: the import writes its batches on a writer thread (its own connection) while it parses the next one, and
hashes and encrypts the phones of a batch in bulk. These run with real commits (a brand of their own), where that
path is taken; the guarantees are the ones tests/members/test_imports.py checks inline."""

from __future__ import annotations

import collections
import threading
from unittest import mock

import pytest
from cryptography.fernet import Fernet
from django.db import OperationalError, connection, transaction
from django_tenants.utils import schema_context
from psycopg2 import errors as pg_errors

from core.crypto import _fernet_key, decrypt, encrypt_many
from members.models import GuideAssignment, Member, MemberImport, TierChange
from members.selectors import member_by_phone
from members.services import imports
from members.services.imports import member_import_rerun, member_import_run
from tests.members.conftest import build_world
from tests.members.test_imports import HEADER, errors, run


@pytest.fixture
def brand_world(new_brand):
    brand = new_brand("imb", with_app=False)
    with schema_context(brand.schema_name), mock.patch.object(imports, "enqueue"):  # the test runs the import
        yield build_world(brand)


@pytest.fixture
def batch_threads():
    """The names of the threads batches were written on (the real _import_batch runs)."""
    names: list[str] = []
    real = imports._import_batch

    def spy(**batch):
        names.append(threading.current_thread().name)
        return real(**batch)

    with mock.patch.object(imports, "_import_batch", spy):
        yield names


def members_csv(count: int, replace: dict[int, str] | None = None) -> bytes:
    lines = [f"1381{i:07d},Member {i},,,,,,\n" for i in range(count)]
    for index, line in (replace or {}).items():
        lines[index] = line
    return (HEADER + "".join(lines)).encode()


def test_batches_written_on_the_writer_thread_keep_file_order_errors_and_duplicates(brand_world, batch_threads):
    world = brand_world
    content = members_csv(
        1200,
        {
            100: "bad,Broken,,,,,,\n",  # line 102 (the header is line 1)
            700: "13810000005,Later name,女,,,,E002,Gold\n",  # row 6 again, three batches later
            1100: "13810001100,Bad date,,1990-02-30,,,,\n",  # line 1102
        },
    )
    imp = run(content, batch_rows=250)
    assert imp.status == "done", imp.error
    assert batch_threads and all(name.startswith("member-import") for name in batch_threads)
    assert (imp.rows_processed, imp.rows_created, imp.rows_updated, imp.rows_failed) == (1200, 1197, 1, 2)
    assert errors(imp) == [
        (102, "phone: not a mainland China mobile number (11 digits starting with 1)"),
        (1102, "birthday: '1990-02-30' is not a date (YYYY-MM-DD)"),
    ]
    assert Member.objects.count() == 1197
    again = member_by_phone("13810000005")  # the later row wins, as if imported one after the other
    assert (again.name, again.gender, again.tier, again.guide) == ("Later name", "female", world.gold, world.g2)
    with connection.cursor() as cursor:  # stored encrypted (a Fernet token), found by its blind index
        cursor.execute("SELECT phone FROM members_member WHERE id = %s", [again.pk])
        assert decrypt(cursor.fetchone()[0]) == again.phone == "13810000005"
    assert [(c.kind, c.to_level_id) for c in TierChange.objects.filter(member=again).order_by("id")] == [
        ("initial", world.silver.pk),
        ("import", world.gold.pk),
    ]
    assert again.tier_since == TierChange.objects.filter(member=again).order_by("id").last().created_at


def test_a_failing_batch_stops_the_import_and_a_second_run_resumes_after_the_last_commit(brand_world):
    content = members_csv(1000)
    real, calls = imports._import_batch, []

    def second_fails(**batch):
        calls.append(batch["consumed"])
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        return real(**batch)

    with mock.patch.object(imports, "_import_batch", second_fails), pytest.raises(RuntimeError):
        run(content, batch_rows=250)
    imp = MemberImport.objects.get()
    assert (imp.status, imp.rows_processed, imp.rows_created) == ("running", 250, 250)
    assert Member.objects.count() == 250  # nothing after the failed batch was written
    imp = member_import_run(import_id=imp.pk, batch_rows=250)  # the redelivered task
    assert (imp.status, imp.rows_processed, imp.rows_created, imp.rows_updated) == ("done", 1000, 1000, 0)
    assert Member.objects.count() == 1000


def test_the_same_file_twice_updates_every_row_and_writes_no_row_versions(brand_world, batch_threads):
    content = members_csv(600, {10: "13810000010,Member 10,女,1990-01-02,2019-03-04 10:00,F101,E001,Gold\n"})
    first = run(content, batch_rows=250)
    assert (first.rows_created, first.rows_updated) == (600, 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text, updated_at FROM members_member ORDER BY id")
        before = cursor.fetchall()
    history = (TierChange.objects.count(), GuideAssignment.objects.count())

    member_import_rerun(member_import=first)
    again = member_import_run(import_id=first.pk, batch_rows=250)

    assert (again.status, again.rows_created, again.rows_updated, again.rows_failed) == ("done", 0, 600, 0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, xmin::text, updated_at FROM members_member ORDER BY id")
        assert cursor.fetchall() == before  # no member rewritten: same row versions
    assert (TierChange.objects.count(), GuideAssignment.objects.count()) == history
    assert len(batch_threads) == 6


def test_bulk_encryption_gives_fernet_tokens_any_fernet_reads():
    from django.conf import settings

    values = [f"139{i:08d}" for i in range(50)] + ["短", "a value longer than one AES block"]
    tokens = encrypt_many(values)
    fernet = Fernet(_fernet_key(settings.EKR_FIELD_KEY))
    assert [fernet.decrypt(t.encode()).decode() for t in tokens] == values
    assert [decrypt(t) for t in tokens] == values
    assert len(set(encrypt_many(["13900000001"] * 20))) == 20  # a fresh IV each


# --- several writers (members.services.imports._Turn) -------------------------------------------------------------


@pytest.fixture
def turns(settings):
    """Hooks on a batch's wait for the batch before it: `pause[n]` (an Event) holds the batch that starts at row n
    before it waits; `waiting[n]` is set once it is about to wait; `failing[n]` is raised there once; `committed`
    lists, in commit order, the row each committed batch started at."""
    settings.EKR_IMPORT_WRITERS = 2
    real = imports._wait_for_previous
    pause: dict[int, threading.Event] = {}
    waiting: dict[int, threading.Event] = collections.defaultdict(threading.Event)
    committed: list[int] = []
    failing: dict[int, BaseException] = {}

    def hooked(imp, turn):
        at = turn.processed_before
        waiting[at].set()
        if at in pause:
            assert pause[at].wait(60), f"batch at {at} paused for ever"
        if at in failing:
            raise failing.pop(at)  # once
        real(imp, turn)
        transaction.on_commit(lambda: committed.append(at))

    with mock.patch.object(imports, "_wait_for_previous", hooked):
        yield pause, waiting, committed, failing


def test_a_batch_written_while_the_one_before_is_open_commits_after_it(brand_world, turns):
    pause, waiting, committed, _ = turns
    pause[0] = waiting[250]  # the first batch commits only once the second has written its rows and waits for it
    imp = run(members_csv(1000), batch_rows=250, processes=1)  # 4 batches on 2 writers
    assert imp.status == "done", imp.error
    assert committed == [0, 250, 500, 750]
    assert (imp.rows_processed, imp.rows_created, imp.rows_updated) == (1000, 1000, 0)
    assert Member.objects.count() == 1000 and TierChange.objects.filter(kind="initial").count() == 1000


def test_a_batch_after_one_that_fails_commits_nothing_although_its_rows_were_written(brand_world, turns):
    pause, waiting, committed, failing = turns
    pause[250] = waiting[500]  # the second batch fails once the third has written its rows and waits for it
    failing[250] = RuntimeError("the database went away")
    with pytest.raises(RuntimeError, match="went away"):  # the first error, not the third batch's
        run(members_csv(1000), batch_rows=250, processes=1)
    imp = MemberImport.objects.get()
    assert committed == [0]
    assert (imp.status, imp.rows_processed, imp.rows_created) == ("running", 250, 250)
    assert Member.objects.count() == 250

    pause.clear()
    imp = member_import_run(import_id=imp.pk, batch_rows=250, processes=1)  # the redelivered task
    assert (imp.status, imp.rows_processed, imp.rows_created, imp.rows_updated) == ("done", 1000, 1000, 0)
    assert Member.objects.count() == 1000 and TierChange.objects.filter(kind="initial").count() == 1000


def test_a_phone_in_the_batch_before_waits_for_it_and_the_later_row_wins(brand_world, settings):
    settings.EKR_IMPORT_WRITERS = 2
    world = brand_world
    again = [f"1381{250 * (n - 1) + 1:07d}" for n in range(1, 4)]  # a phone of each of the first three batches
    replace = {250 * n: f"{again[n - 1]},Again {n},女,,,,E002,Gold\n" for n in range(1, 4)}  # in the next one
    content = members_csv(1000, replace)
    events: list[tuple[str, int]] = []
    real = imports._import_batch

    def spy(**batch):
        at = batch["turn"].processed_before
        events.append(("start", at))
        try:
            return real(**batch)
        finally:
            events.append(("end", at))

    with mock.patch.object(imports, "_import_batch", spy):
        imp = run(content, batch_rows=250, processes=1)
    assert imp.status == "done", imp.error
    for n in range(1, 4):  # each batch started after the one before it (which had its phone) ended
        assert events.index(("end", 250 * (n - 1))) < events.index(("start", 250 * n)), events
    assert (imp.rows_processed, imp.rows_created, imp.rows_updated) == (1000, 997, 3)
    for n, phone in enumerate(again, start=1):
        member = member_by_phone(phone)
        assert (member.name, member.tier, member.guide) == (f"Again {n}", world.gold, world.g2)
        kinds = [(c.kind, c.to_level_id) for c in TierChange.objects.filter(member=member).order_by("id")]
        assert kinds == [("initial", world.silver.pk), ("import", world.gold.pk)]


def test_a_deadlock_between_two_batches_goes_on_with_one_writer(brand_world, turns):
    """Two imports of the same members at once can make two batches of one wait for each other through the other's
    transaction; PostgreSQL rolls one back (its error raised as this one)."""
    pause, waiting, committed, failing = turns
    pause[250] = waiting[500]
    deadlock = OperationalError("deadlock detected")
    deadlock.__cause__ = pg_errors.DeadlockDetected("deadlock detected")
    failing[250] = deadlock
    imp = run(members_csv(1000), batch_rows=250, processes=1)
    assert (imp.status, imp.rows_processed, imp.rows_created, imp.rows_updated) == ("done", 1000, 1000, 0)
    assert committed == [0, 250, 500, 750]  # the second batch again, and on from there, once each
    assert Member.objects.count() == 1000 and TierChange.objects.filter(kind="initial").count() == 1000
