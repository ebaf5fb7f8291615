"""Issue 17: the import writes its batches on a writer thread (its own connection) while it parses the next one, and
hashes and encrypts the phones of a batch in bulk. These run with real commits (a brand of their own), where that
path is taken; the guarantees are the ones tests/members/test_imports.py checks inline."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from cryptography.fernet import Fernet
from django.db import connection
from django_tenants.utils import schema_context

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
