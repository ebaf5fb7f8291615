import pytest

from members.models import GuideAssignment, Member, MemberImport, TierChange
from members.selectors import member_by_phone
from members.services import member_import_chunk_add, member_import_create, member_import_run, member_import_start

HEADER = "手机号,姓名,性别,生日,入会时间,门店编码,导购工号,等级\n"


def run(
    content: bytes, encoding: str = "utf-8", batch_rows: int = 5000, chunk: int = 100_000, processes: int | None = None
) -> MemberImport:
    imp = member_import_create(filename="crm.csv", encoding=encoding)
    for seq, start in enumerate(range(0, len(content), chunk)):
        member_import_chunk_add(member_import=imp, seq=seq, data=content[start : start + chunk])
    member_import_start(member_import=imp)
    return member_import_run(import_id=imp.pk, batch_rows=batch_rows, processes=processes)


def errors(imp):
    return [(e.row_number, e.message) for e in imp.errors.all()]


def test_import_creates_members_and_reports_bad_rows(world):
    csv = (
        HEADER
        + "13800000001,王芳,女,1990-05-01,2019-03-04 10:00:00,F101,E001,Gold\n"
        + "138-0000-0002,李雷,男,1988/01/02,2020-01-01,HQ01,,\n"
        + "12345,Bad Phone,,,,,,\n"
        + "13800000004,Unknown store,,,,NOPE,,\n"
        + "\n"
        + '13800000005,"Quoted, name",,,,,,\n'
    ).encode()
    imp = run(csv)
    assert imp.status == "done", imp.error
    assert (imp.rows_processed, imp.rows_created, imp.rows_updated, imp.rows_failed) == (5, 3, 0, 2)
    assert errors(imp) == [
        (4, "phone: not a mainland China mobile number (11 digits starting with 1)"),
        (5, "store_code: unknown store 'NOPE'"),
    ]
    fang = member_by_phone("13800000001")
    assert (fang.name, fang.gender, str(fang.birthday)) == ("王芳", "female", "1990-05-01")
    assert fang.guide == world.g1 and fang.store == world.s1 and fang.join_store == world.s1
    assert fang.tier == world.gold and fang.join_channel == "import" and fang.openid is None
    assert fang.joined_at.year == 2019
    assert member_by_phone("13800000002").tier == world.silver  # the entry tier
    assert member_by_phone("13800000005").name == "Quoted, name"
    assert TierChange.objects.filter(member=fang, kind="initial", to_level=world.gold).count() == 1
    assert GuideAssignment.objects.filter(member=fang, to_guide=world.g1).count() == 1


def test_rerun_updates_instead_of_duplicating(world):
    first = (HEADER + "13800000001,王芳,女,1990-05-01,2019-03-04,F101,E001,Silver\n").encode()
    run(first)
    second = (HEADER + "13800000001,王芳芳,,,,,E002,Gold\n" + "13800000001,王芳芳芳,,,,,,\n").encode()
    imp = run(second)
    assert (imp.rows_created, imp.rows_updated, imp.rows_failed) == (0, 2, 0)
    assert Member.objects.count() == 1
    fang = member_by_phone("13800000001")
    assert fang.name == "王芳芳芳"  # the last row of the file wins
    assert fang.gender == "female" and str(fang.birthday) == "1990-05-01"  # blanks keep what was there
    assert fang.tier == world.gold and fang.guide == world.g2 and fang.store == world.s2
    assert fang.joined_at.year == 2019
    assert [(c.kind, c.to_level_id) for c in TierChange.objects.filter(member=fang).order_by("id")] == [
        ("initial", world.silver.pk),
        ("import", world.gold.pk),
    ]


def test_a_registered_member_is_updated_by_phone(world, register):
    member = register("o-1", "13800000001", name="Mei")
    imp = run((HEADER + "13800000001,,女,1990-05-01,,,,\n").encode())
    assert (imp.rows_created, imp.rows_updated) == (0, 1)
    member.refresh_from_db()
    assert member.openid == "o-1" and member.name == "Mei" and member.gender == "female"


def test_one_bad_row_in_many_lets_every_good_row_in(world):
    lines = [f"1380{i:07d},Member {i},,,,,,\n" for i in range(3000)]
    lines[1234] = "1380xx,Broken,,,,,,\n"
    imp = run((HEADER + "".join(lines)).encode(), batch_rows=500, chunk=7000)
    assert imp.status == "done"
    assert (imp.rows_created, imp.rows_failed) == (2999, 1)
    assert errors(imp)[0][0] == 1236  # header is line 1
    assert Member.objects.count() == 2999


def test_wrong_encoding_fails_clearly_and_the_right_one_works(world):
    content = (HEADER + "13800000001,王芳,女,,,,,\n").encode("gb18030")
    imp = run(content)
    assert imp.status == "failed"
    assert "not valid UTF-8" in imp.error and "gb18030" in imp.error
    assert Member.objects.count() == 0
    imp = run(content, encoding="gb18030")
    assert imp.status == "done" and member_by_phone("13800000001").name == "王芳"


def test_a_badly_encoded_line_later_in_the_file_is_one_row_error(world):
    good = "".join(f"1380{i:07d},Member {i},,,,,,\n" for i in range(4000)).encode()
    content = HEADER.encode() + good + "13900000001,王芳,,,,,,\n".encode("gb18030") + b"13900000002,ok,,,,,,\n"
    imp = run(content)
    assert imp.status == "done"
    assert errors(imp) == [(4002, "not valid UTF-8 text")]
    assert imp.rows_created == 4001


def test_missing_columns_fail_with_what_was_found(world):
    imp = run(b"mobile_no,full_name\n13800000001,x\n")
    assert imp.status == "failed"
    assert "Missing required column(s): phone, name" in imp.error and "'mobile_no'" in imp.error


def test_empty_file_and_utf8_bom(world):
    assert run(b"\n").status == "failed"
    imp = run(b"\xef\xbb\xbfphone,name\n13800000001,Mei\n")
    assert imp.status == "done" and imp.rows_created == 1


def test_row_with_too_many_fields_and_bad_dates(world):
    imp = run(b"phone,name,birthday\n13800000001,a,b,c\n13800000002,b,1990-02-30\n")
    assert [m for _, m in errors(imp)] == [
        "4 fields but the header has 3",
        "birthday: '1990-02-30' is not a date (YYYY-MM-DD)",
    ]


def test_a_resumed_import_skips_committed_rows(world):
    content = (HEADER + "".join(f"1380{i:07d},Member {i},,,,,,\n" for i in range(10))).encode()
    imp = member_import_create(filename="crm.csv")
    member_import_chunk_add(member_import=imp, seq=0, data=content)
    member_import_start(member_import=imp)
    # a worker died after committing the first 4 rows
    MemberImport.objects.filter(pk=imp.pk).update(status="running", rows_processed=4, rows_created=4)
    imp = member_import_run(import_id=imp.pk)
    assert (imp.rows_processed, imp.rows_created) == (10, 10)
    assert Member.objects.count() == 6  # only rows 5..10 were written by this run
    assert member_import_run(import_id=imp.pk).rows_processed == 10  # done: a redelivery does nothing


def test_chunks_must_be_complete_and_consistent(world):
    from core.errors import ApplicationError, Conflict

    imp = member_import_create(filename="x.csv")
    member_import_chunk_add(member_import=imp, seq=1, data=b"abc")
    with pytest.raises(ApplicationError) as info:
        member_import_start(member_import=imp)
    assert info.value.code == "chunks_missing"
    member_import_chunk_add(member_import=imp, seq=1, data=b"abc")  # resent: fine
    with pytest.raises(Conflict):
        member_import_chunk_add(member_import=imp, seq=1, data=b"xyz")


def test_rerun_from_the_admin_action_resets_progress_and_updates(world, django_capture_on_commit_callbacks):
    from unittest import mock

    from members.services.imports import member_import_rerun

    imp = run((HEADER + "13800000001,王芳,,,,,,\nbad,x,,,,,,\n").encode())
    with mock.patch("members.tasks.member_import_run.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            imp = member_import_rerun(member_import=imp)
    assert queued.call_count == 1 and imp.status == "queued" and imp.errors.count() == 0
    imp = member_import_run(import_id=imp.pk)
    assert (imp.rows_created, imp.rows_updated, imp.rows_failed) == (0, 1, 1)
    assert Member.objects.count() == 1
