"""Issue 17: a big import file is cut into pieces of whole lines (members.services.imports._pieces), read and sealed
on worker processes (read_piece on _PieceReaders), and written batch by batch in file order. Reading it so must give
exactly what reading it on one process gives, whatever the pieces' cuts fall on: quoted fields with line breaks,
stray quotes, a line that does not decode, the same phone in two pieces."""

from __future__ import annotations

import threading
from unittest import mock

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from core.errors import Conflict
from members.models import GuideAssignment, Member, MemberImport, TierChange
from members.services import imports
from members.services.import_parsing import Lookups, Piece, Reading, header_columns, read_piece
from members.services.imports import _pieces, _reads
from tests.members.conftest import build_world
from tests.members.test_imports import HEADER, errors, run

BATCH = 100


def parallel_csv() -> tuple[bytes, list[int]]:
    """1,600 rows: links, tiers, bad rows, a blank line, the same phone again pieces later, quoted line breaks and a
    stray quote (a quote inside an unquoted field is a character to the CSV reader; it makes the cutter's quote
    count wrong from there to the end of its piece). Also the line numbers of the three bad rows."""
    lines = []
    for i in range(1600):
        phone = f"1382{i % 1560:07d}"  # the last 40 rows repeat the first 40 phones
        store = "F101" if i % 7 == 0 else ""
        guide = "E002" if i % 11 == 0 else ""
        tier = "Gold" if i % 13 == 0 else ("Silver" if i % 17 == 0 else "")
        joined = f"20{10 + i % 14}-0{1 + i % 9}-1{i % 10} 10:{i % 60:02d}" if i % 5 else ""
        name = f"Member {i}" if i < 1560 else f"Again {i}"
        if i % 29 == 3:
            name = f'"Two\nlines {i}"'  # a line break inside quotes
        if i == 205:
            name = f'ab"c{i}'  # a stray quote
        if i == 206:
            name = f'"opened {i}\nclosed"'
        lines.append(f"{phone},{name},{'女' if i % 2 else ''},,{joined},{store},{guide},{tier}\n".encode())
    lines[100] = b"12345,Bad phone,,,,,,\n"
    lines[250] = b"13820000250,Bad store,,,,NOPE,,\n"
    lines[300] = b"\n"
    lines[1500] = "13820001500,王芳,,,,,,\n".encode("gb18030")  # past the first 64 KB: this row's error
    bad_lines = [2 + b"".join(lines[:i]).count(b"\n") for i in (100, 250, 1500)]
    return HEADER.encode() + b"".join(lines), bad_lines


@pytest.fixture
def worlds(new_brand):
    made = []
    for prefix in ("ims", "imp"):
        brand = new_brand(prefix, with_app=False)
        with schema_context(brand.schema_name):
            made.append(build_world(brand))
    with mock.patch.object(imports, "enqueue"):  # the test runs the import
        yield made


def import_in(world, content: bytes, processes: int) -> list:
    """Import `content` in the world's brand; returns the pieces read on this process (read_piece calls here)."""
    with (
        schema_context(world.brand.schema_name),
        mock.patch.object(imports, "read_piece", wraps=imports.read_piece) as here,
    ):
        imp = imports.member_import_create(filename="crm.csv")
        for seq, start in enumerate(range(0, len(content), 7000)):
            imports.member_import_chunk_add(member_import=imp, seq=seq, data=content[start : start + 7000])
        imports.member_import_start(member_import=imp)
        imp = imports.member_import_run(import_id=imp.pk, batch_rows=BATCH, processes=processes)
        assert imp.status == "done", imp.error
    return [call.args[0] for call in here.call_args_list]


def outcome(world) -> dict:
    """Everything the import wrote in the world's brand, by phone and code (ids differ between brands)."""

    def code(obj, attr):
        return getattr(obj, attr) if obj is not None else None

    with schema_context(world.brand.schema_name):
        imp = MemberImport.objects.get()
        members = Member.objects.select_related("store", "join_store", "guide", "tier")
        return {
            "counters": (imp.rows_processed, imp.rows_created, imp.rows_updated, imp.rows_failed),
            "errors": errors(imp),
            "members": sorted(
                (
                    m.phone,
                    m.name,
                    m.gender,
                    m.joined_at.isoformat() if m.joined_at.year < 2025 else "at import",
                    code(m.store, "code"),
                    code(m.join_store, "code"),
                    code(m.guide, "employee_no"),
                    code(m.tier, "name"),
                    m.tier_since is not None,
                )
                for m in members
            ),
            "tiers": sorted(
                (c.member.phone, c.kind, code(c.from_level, "name"), code(c.to_level, "name"))
                for c in TierChange.objects.select_related("member", "from_level", "to_level")
            ),
            "guides": sorted(
                (a.member.phone, code(a.from_guide, "employee_no"), code(a.to_guide, "employee_no"))
                for a in GuideAssignment.objects.select_related("member", "from_guide", "to_guide")
            ),
        }


def test_a_file_read_on_processes_gives_what_one_process_gives(worlds):
    one, many = worlds
    content, bad_lines = parallel_csv()

    read_here_alone = import_in(one, content, processes=1)
    read_here_parallel = import_in(many, content, processes=2)

    alone, parallel = outcome(one), outcome(many)
    assert parallel == alone
    # what one process gives is itself right: every row once, errors on their lines
    assert alone["counters"] == (1599, 1556, 40, 3)
    assert alone["errors"] == [
        (bad_lines[0], "phone: not a mainland China mobile number (11 digits starting with 1)"),
        (bad_lines[1], "store_code: unknown store 'NOPE'"),
        (bad_lines[2], "not valid UTF-8 text"),
    ]
    by_phone = {m[0]: m for m in alone["members"]}
    assert by_phone["13820000061"][1] == "Two\nlines 61"
    assert by_phone["13820000205"][1] == 'ab"c205' and by_phone["13820000206"][1] == "opened 206\nclosed"
    assert by_phone["13820000007"][1:3] == ("Again 1567", "female")  # the later row wins where it has a value
    # the parallel run read every piece on the worker processes, none here
    assert len(read_here_alone) >= 16 and read_here_parallel == []


def reading() -> Reading:
    look = Lookups(stores={}, guides={}, tiers={}, entry_tier_id=None)
    columns = ["phone", "name"]
    return Reading(columns=header_columns(columns), width=2, look=look, encoding="utf-8")


def test_a_row_across_a_cut_is_read_once_in_the_piece_it_starts_in():
    body = b'13800000001,a\n13800000002,"two\nlines"\n13800000003,c\n13800000004,d\n'
    pieces = list(_pieces(iter([body[:20], body[20:]]), 2, 2))
    # the second line break is inside quotes: the first piece runs to the end of that row
    assert [(p.data, p.first_line, p.last) for p in pieces] == [
        (b'13800000001,a\n13800000002,"two\nlines"\n', 2, False),
        (b"13800000003,c\n13800000004,d\n", 5, True),
    ]
    reads = list(_reads(iter(pieces), reading(), None, 0))
    assert [(r.rows, r.consumed, r.clean) for r in reads] == [(2, 2, True), (2, 2, True)]


def test_a_stray_quote_does_not_move_the_cut_into_a_quoted_field():
    # line 2 has a stray quote (a character to the CSV reader); line 3 opens a quoted field that line 4 closes.
    # Counting quotes would take the end of line 3 for the end of a row.
    body = b'13800000001,ab"c\n13800000002,"x\ny"\n13800000003,z\n'
    pieces = list(_pieces(iter([body]), 2, 2))
    assert [p.data for p in pieces] == [b'13800000001,ab"c\n13800000002,"x\ny"\n', b"13800000003,z\n"]


def test_a_piece_cut_inside_a_quoted_field_is_read_again_with_the_next():
    body = b'13800000001,ab"c\n13800000002,"x\ny"\n13800000003,z\n'
    wrong = [Piece(body[:32], 2), Piece(body[32:], 4, last=True)]  # cut after line 3, inside "x...y"
    assert wrong[0].data.endswith(b'"x\n')
    assert not read_piece(wrong[0], reading()).clean

    reads = list(_reads(iter(wrong), reading(), None, 0))

    whole = read_piece(Piece(body, 2, last=True), reading())
    assert len(reads) == 1 and reads[0].copy.count("\n") == whole.rows == 3
    assert (reads[0].consumed, reads[0].errors) == (3, [])
    assert reads[0].copy.split("\t")[2::9] == whole.copy.split("\t")[2::9] == ['ab"c', "x\\ny", "z"]


def test_members_who_register_during_a_parallel_import_are_neither_duplicated_nor_lost(new_brand):
    from members.services import member_register

    brand = new_brand("imr", with_app=False)
    with schema_context(brand.schema_name):
        build_world(brand)
    phones = [f"1383{i:07d}" for i in range(1500)]
    content = (HEADER + "".join(f"{p},Imported {i},女,,,,,\n" for i, p in enumerate(phones))).encode()
    registering = phones[::50]  # 30 members register in the mini-program while the file is imported
    barrier = threading.Barrier(1 + len(registering) // 10)
    failures: list[BaseException] = []

    def importer() -> None:
        try:
            with schema_context(brand.schema_name), mock.patch.object(imports, "enqueue"):
                barrier.wait()
                imp = run(content, batch_rows=100, processes=2)
                assert imp.status == "done", imp.error
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    def registrant(batch: list[str]) -> None:
        try:
            with schema_context(brand.schema_name):
                barrier.wait()
                for phone in batch:
                    try:
                        member_register(openid=f"o-{phone}", phone=phone, name="Registered", phone_verified=True)
                    except Conflict as exc:  # the import inserted the phone while this registration did too:
                        assert exc.code == "phone_taken"  # the app asks again, and claims the imported member
                        member_register(openid=f"o-{phone}", phone=phone, name="Registered", phone_verified=True)
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=importer)] + [
        threading.Thread(target=registrant, args=(registering[n : n + 10],)) for n in range(0, len(registering), 10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures

    with schema_context(brand.schema_name):
        assert Member.objects.count() == len(phones)  # one member a phone, whoever came first
        registered = {m.phone: m for m in Member.objects.filter(openid__isnull=False)}
        assert sorted(registered) == sorted(registering)
        assert all(m.openid == f"o-{m.phone}" for m in registered.values())
        imp = MemberImport.objects.get()
        assert (imp.rows_processed, imp.rows_created + imp.rows_updated, imp.rows_failed) == (1500, 1500, 0)
        assert imp.rows_created == Member.objects.filter(join_channel="import").count()
        assert Member.objects.exclude(name__in=("Registered", "")).count() == len(phones) - sum(
            1 for m in registered.values() if m.name == "Registered"
        )


def test_two_brands_importing_the_same_phones_at_once_each_get_their_own_members(new_brand):
    brands = [new_brand("imt", with_app=False) for _ in range(2)]
    for brand in brands:
        with schema_context(brand.schema_name):
            build_world(brand)
    phones = [f"1385{i:07d}" for i in range(900)]
    barrier = threading.Barrier(len(brands))
    failures: list[BaseException] = []

    def importer(brand) -> None:
        try:
            content = (HEADER + "".join(f"{p},{brand.schema_name} {i},,,,,,\n" for i, p in enumerate(phones))).encode()
            with schema_context(brand.schema_name):
                barrier.wait()
                imp = run(content, batch_rows=100, processes=2)
                assert (imp.status, imp.rows_created) == ("done", len(phones)), imp.error
        except BaseException as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=importer, args=(brand,)) for brand in brands]
    # patched once, here: mock.patch in each thread is not thread-safe (threads ending out of order restore each
    # other's mock, leaving `enqueue` a mock for every later test: the worker tests' imports never queued)
    with mock.patch.object(imports, "enqueue"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not failures, failures

    for brand in brands:
        with schema_context(brand.schema_name):
            names = set(Member.objects.values_list("name", flat=True))
            assert len(names) == len(phones) and all(name.startswith(f"{brand.schema_name} ") for name in names)
            assert sorted(m.phone for m in Member.objects.all()) == phones
