"""Issue 17: what a batch of the member import costs. A batch of new phones only runs one statement (no upsert, no
delete from the stage); a batch with known phones leaves only those to the upsert; the task's process cuts
quote-free lines without the CSV reader; the COPY text is written inline exactly as _copy_value writes each value."""

from __future__ import annotations

import datetime as dt
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from core.crypto import decrypt
from members.models import GuideAssignment, Member, TierChange
from members.selectors import member_by_phone, phone_hash
from members.services import imports
from members.services.import_parsing import Piece, StagedRow, _copy_value, copy_text, parse_moment, read_piece
from members.services.imports import _cut_at
from tests.members.test_import_parallel import reading
from tests.members.test_imports import HEADER, run


@pytest.fixture
def stage_at_upsert():
    """How many rows the stage holds each time the upsert runs (the batch's phones left to it)."""
    seen: list[int] = []

    def spy(execute, sql, params, many, context):
        if sql == imports._UPSERT:
            with context["connection"].cursor() as cursor:
                cursor.execute("SELECT count(*) FROM members_import_stage")
                seen.append(cursor.fetchone()[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        yield seen


def test_a_batch_of_new_and_known_phones_leaves_only_the_known_ones_to_the_upsert(world, register, stage_at_upsert):
    register("o-1", "13800000002", name="Mei")
    register("o-2", "13800000004", name="Lei")
    rows = "".join(f"1380000000{n},Row {n},女,,,,,\n" for n in range(1, 6))
    imp = run((HEADER + rows).encode())
    assert (imp.rows_created, imp.rows_updated, imp.rows_failed) == (3, 2, 0)
    assert stage_at_upsert == [2]  # the three inserted were taken out of the stage
    assert [member_by_phone(f"1380000000{n}").name for n in range(1, 6)] == [
        "Row 1",
        "Row 2",
        "Row 3",
        "Row 4",
        "Row 5",
    ]
    assert Member.objects.filter(join_channel="import").count() == 3

    again = run((HEADER + "13800000006,New,,,,,,\n13800000007,New too,,,,,,\n").encode())
    assert (again.rows_created, again.rows_updated) == (2, 0)
    assert stage_at_upsert == [2]  # every phone new: no upsert at all


@pytest.fixture
def inserts():
    """The insert statements batches ran, by name, in order."""
    names = {imports._INSERT_ALL_NEW: "all new", imports._INSERT_NEW: "new", imports._UPSERT: "upsert"}
    seen: list[str] = []

    def spy(execute, sql, params, many, context):
        if sql in names:
            seen.append(names[sql])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        yield seen


def test_a_file_of_new_phones_is_inserted_without_a_conflict_check_until_a_known_phone_comes(world, inserts):
    first = run((HEADER + "".join(f"138000000{n:02d},Row {n},,,,,,\n" for n in range(6))).encode(), batch_rows=2)
    assert (first.rows_created, first.rows_updated) == (6, 0)
    assert inserts == ["all new"] * 3

    inserts.clear()
    rows = [f"138000001{n:02d},Next {n},,,,,E002,Gold\n" for n in range(8)]
    rows[3] = "13800000004,Known,女,,,,E001,Gold\n"  # in the second batch
    again = run((HEADER + "".join(rows)).encode(), batch_rows=2)
    assert (again.status, again.rows_created, again.rows_updated, again.rows_failed) == ("done", 7, 1, 0)
    # the second batch's attempt is undone and it goes in as any batch does; so do the batches after it
    assert inserts == ["all new", "all new", "new", "upsert", "new", "new"]
    assert Member.objects.count() == 13
    known = member_by_phone("13800000004")
    assert (known.name, known.gender, known.guide, known.tier) == ("Known", "female", world.g1, world.gold)
    assert TierChange.objects.filter(member=known).count() == 2  # initial (entry tier), then the import's Gold
    assert GuideAssignment.objects.filter(member=known).count() == 1
    for n in (0, 1, 2, 4, 5, 6, 7):
        member = member_by_phone(f"138000001{n:02d}")
        assert (member.name, member.guide, member.tier) == (f"Next {n}", world.g2, world.gold)
        assert TierChange.objects.filter(member=member, kind="initial").count() == 1


def test_lines_without_a_quote_are_cut_without_the_csv_reader():
    body = b'13800000001,a\n13800000002,b\n13800000003,"c\nd"\n'
    with mock.patch.object(imports.csv, "reader", side_effect=AssertionError("the CSV reader was used")):
        assert _cut_at(body, 2) == 28  # a quote after the cut does not matter
        assert _cut_at(body, 1) == 14
        assert _cut_at(body, 5) is None  # not that many lines yet
    real = imports.csv.reader
    with mock.patch.object(imports.csv, "reader", side_effect=real) as reader:
        assert _cut_at(body, 3) == len(body)  # a quote before the cut: the reader finds the row's end
    assert reader.called


def test_the_copy_text_writes_every_value_as_copy_value_does():
    tz = ZoneInfo("Asia/Shanghai")
    rows = [
        StagedRow("", "13800000001", "a\tb\\c\nd\re", "female", dt.date(1990, 5, 1),
                  dt.datetime(2019, 3, 4, 10, 0, tzinfo=tz), 7, 8, 9, 10),
        StagedRow("", "13800000002", "", "unknown", None, None, None, None, None, None),
        StagedRow("", "13800000003", "王芳", "male", dt.date(2001, 12, 31), dt.datetime(2020, 1, 1, tzinfo=tz),
                  None, 3, 4, None),
    ]  # fmt: skip
    text, hashes = copy_text(rows, hashes=True)
    assert copy_text(rows).count("\n") == 3
    lines = text.split("\n")
    assert lines.pop() == ""
    assert hashes == [phone_hash(row.phone) for row in rows]
    for row, line in zip(rows, lines, strict=True):
        fields = line.split("\t")
        assert decrypt(fields[1]) == row.phone
        assert fields[0] == phone_hash(row.phone)
        assert fields[2:] == [_copy_value(value) for value in row[2:]]
    assert lines[0].split("\t")[2] == "a\\tb\\\\c\\nd\\re"


def test_a_read_piece_carries_its_phones_blind_indexes():
    read = read_piece(Piece(b"13800000001,a\n13800000002,b\n13800000001,c\nbad,d\n", 2, last=True), reading())
    assert read.rows == 2 and read.phones == {phone_hash("13800000001"), phone_hash("13800000002")}


def test_import_chunks_are_stored_uncompressed(new_brand):
    brand = new_brand("imc", with_app=False)  # made from the template schema, as every brand is
    content = (HEADER + "13800000001,王芳,女,,,,,\n" * 2000).encode()  # compressible, over the TOAST threshold
    with schema_context(brand.schema_name), mock.patch.object(imports, "enqueue"):
        imp = run(content)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'members_memberimportchunk'::regclass "
                "AND attname = 'data'"
            )
            assert cursor.fetchone()[0] == "e"
            cursor.execute(
                "SELECT pg_column_size(data), length(data) FROM members_memberimportchunk WHERE member_import_id = %s",
                [imp.pk],
            )
            stored, length = cursor.fetchone()
        assert stored >= length == len(content)  # not compressed
        assert bytes(imp.chunks.get().data) == content
        assert (imp.status, imp.rows_created, imp.rows_updated) == ("done", 1, 1999)


@pytest.mark.parametrize(
    "value",
    ["2019-03-04 10:00:00", "2019-03-04 10:00", "1988-04-10 02:30:00", "1988-09-11 01:30:00", "2011-02-11 23:59:59"],
)
def test_a_moment_is_read_as_make_aware_reads_it(value):
    """The fast path of parse_moment gives what Django's make_aware gives in the brand's zone, also in the hours
    Shanghai's summer time (1986-1991) skipped or repeated."""
    from django.utils import timezone

    tz = ZoneInfo("Asia/Shanghai")
    moment = parse_moment(value, tz)
    expected = timezone.make_aware(dt.datetime.fromisoformat(value), tz)
    assert (moment, moment.isoformat(), moment.tzinfo, moment.fold) == (
        expected,
        expected.isoformat(),
        expected.tzinfo,
        expected.fold,
    )


def test_a_row_of_blank_fields_is_a_blank_line():
    body = b"13800000001,a\n , \n\t,\n,\n13800000002,b\n"
    read = read_piece(Piece(body, 2, last=True), reading())
    assert (read.rows, read.consumed, read.errors) == (2, 2, [])
