"""Import of a brand's historical members from CSV.

The file arrives in chunks (each under the request body limit), then Celery runs it batch by batch. Each batch
is one transaction that also advances the progress counters, so staff watch progress, a crashed worker resumes
where the last batch ended, and a re-run of the same file updates members (matched on the phone's keyed hash)
instead of duplicating them. A bad row is reported with its line number and the good rows go in; a file in the
wrong encoding or without the required columns fails at once with a message that says so.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core.crypto import encrypt
from core.errors import ApplicationError, Conflict
from core.tasks import enqueue
from members.models import CardLevel, Guide, MemberImport, MemberImportChunk, MemberImportError, Store
from members.selectors import card_level_entry, phone_hash, phone_normalize

logger = logging.getLogger(__name__)

CHUNK_MAX_BYTES = 900 * 1024
FILE_MAX_BYTES = 512 * 1024 * 1024
BATCH_ROWS = 5000
ERRORS_KEPT = 10_000
ENCODING_PROBE_BYTES = 64 * 1024

# Column names as brands' old CRMs export them -> ours.
COLUMN_ALIASES = {
    "phone": "phone", "mobile": "phone", "手机": "phone", "手机号": "phone", "手机号码": "phone",
    "name": "name", "姓名": "name",
    "gender": "gender", "性别": "gender",
    "birthday": "birthday", "生日": "birthday", "出生日期": "birthday",
    "joined_at": "joined_at", "入会时间": "joined_at", "注册时间": "joined_at",
    "store_code": "store_code", "门店编码": "store_code", "门店代码": "store_code",
    "guide_employee_no": "guide_employee_no", "导购工号": "guide_employee_no",
    "tier": "tier", "等级": "tier", "会员等级": "tier",
}
REQUIRED_COLUMNS = ("phone", "name")
GENDERS = {"": "unknown", "男": "male", "m": "male", "male": "male", "1": "male",
           "女": "female", "f": "female", "female": "female", "2": "female",
           "未知": "unknown", "unknown": "unknown", "0": "unknown"}


# --- upload -----------------------------------------------------------------------------------------------------

@transaction.atomic
def member_import_create(*, filename: str, encoding: str = MemberImport.Encoding.UTF8,
                         created_by_id: int | None = None) -> MemberImport:
    imp = MemberImport(filename=filename[:200], encoding=encoding, created_by_id=created_by_id)
    imp.full_clean()
    imp.save()
    return imp


@transaction.atomic
def member_import_chunk_add(*, member_import: MemberImport, seq: int, data: bytes) -> MemberImport:
    """Append chunk `seq` (0, 1, 2 ...) of the file. Sending the same chunk again is harmless."""
    imp = MemberImport.objects.select_for_update().get(pk=member_import.pk)
    if imp.status != MemberImport.Status.UPLOADING:
        raise Conflict("This import has already started.", code="import_started")
    if not data:
        raise ApplicationError("Empty chunk.", code="empty_chunk")
    if len(data) > CHUNK_MAX_BYTES:
        raise ApplicationError(f"A chunk is at most {CHUNK_MAX_BYTES} bytes.", code="chunk_too_large",
                               status_code=413)
    existing = MemberImportChunk.objects.filter(member_import=imp, seq=seq).first()
    if existing is not None:
        if bytes(existing.data) != data:
            raise Conflict(f"Chunk {seq} was already sent with other content.", code="chunk_conflict")
        return imp
    if imp.size_bytes + len(data) > FILE_MAX_BYTES:
        raise ApplicationError("The file is too large.", code="file_too_large", status_code=413)
    MemberImportChunk.objects.create(member_import=imp, seq=seq, data=data)
    imp.size_bytes += len(data)
    imp.save(update_fields=["size_bytes"])
    return imp


@transaction.atomic
def member_import_start(*, member_import: MemberImport) -> MemberImport:
    """Queue the import once every chunk is in. Chunks must be numbered 0..n-1 without gaps."""

    imp = MemberImport.objects.select_for_update().get(pk=member_import.pk)
    if imp.status != MemberImport.Status.UPLOADING:
        return imp
    seqs = list(imp.chunks.order_by("seq").values_list("seq", flat=True))
    if not seqs:
        raise ApplicationError("Upload the file first.", code="import_empty")
    if seqs != list(range(len(seqs))):
        missing = sorted(set(range(max(seqs) + 1)) - set(seqs))
        raise ApplicationError(f"Chunks missing: {missing[:20]}.", code="chunks_missing")
    imp.status = MemberImport.Status.QUEUED
    imp.save(update_fields=["status"])
    enqueue("members.import_run", imp.pk)
    return imp


@transaction.atomic
def member_import_rerun(*, member_import: MemberImport) -> MemberImport:
    """Run a finished import again from the top: its rows update the members they created (matched on phone)."""

    imp = MemberImport.objects.select_for_update().get(pk=member_import.pk)
    if imp.status not in (MemberImport.Status.DONE, MemberImport.Status.FAILED):
        raise Conflict("This import is not finished.", code="import_running")
    imp.errors.all().delete()
    MemberImport.objects.filter(pk=imp.pk).update(
        status=MemberImport.Status.QUEUED, rows_processed=0, rows_created=0, rows_updated=0, rows_failed=0,
        error="", started_at=None, finished_at=None)
    enqueue("members.import_run", imp.pk)
    imp.refresh_from_db()
    return imp


def member_import_from_bytes(*, filename: str, content: bytes, encoding: str = MemberImport.Encoding.UTF8,
                             created_by_id: int | None = None) -> MemberImport:
    """Create, upload and queue in one go (admin, scripts)."""
    imp = member_import_create(filename=filename, encoding=encoding, created_by_id=created_by_id)
    for seq, start in enumerate(range(0, max(len(content), 1), CHUNK_MAX_BYTES)):
        member_import_chunk_add(member_import=imp, seq=seq, data=content[start:start + CHUNK_MAX_BYTES])
    return member_import_start(member_import=imp)


# --- reading the file ---------------------------------------------------------------------------------------------

class ImportFailed(Exception):
    """The whole file cannot be imported (encoding, header)."""


def _byte_lines(imp: MemberImport) -> Iterator[bytes]:
    rest = b""
    for chunk_id in imp.chunks.order_by("seq").values_list("id", flat=True):
        data = bytes(MemberImportChunk.objects.filter(pk=chunk_id).values_list("data", flat=True)[0])
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for line in lines:
            yield line + b"\n"
    if rest:
        yield rest


@dataclass
class _Lines:
    """Decodes line by line; a line that does not decode is remembered (its row is reported) not fatal."""

    raw: Iterator[bytes]
    encoding: str
    bad_lines: set[int] = field(default_factory=set)
    number: int = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.raw:
            self.number += 1
            if self.number == 1 and self.encoding == "utf-8" and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            try:
                yield line.decode(self.encoding)
            except UnicodeDecodeError:
                self.bad_lines.add(self.number)
                yield line.decode(self.encoding, errors="replace")


def _probe_encoding(lines: list[bytes], encoding: str) -> None:
    """The first 64 KB must decode: a file in another encoding fails at once, not with 100k row errors."""
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8):]
        try:
            line.decode(encoding)
        except UnicodeDecodeError as exc:
            hint = (" Save it as 'CSV UTF-8', or start the import with encoding 'gb18030' if it came from Excel "
                    "or a Chinese CRM." if encoding == "utf-8" else " Check the encoding chosen for the import.")
            raise ImportFailed(f"The file is not valid {encoding.upper()} (line {number}, byte {exc.start + 1})."
                               + hint) from None


def _header(row: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, name in enumerate(row):
        key = COLUMN_ALIASES.get(name.strip().lower()) or COLUMN_ALIASES.get(name.strip())
        if key and key not in columns:
            columns[key] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(repr(c.strip()) for c in row[:20]) or "nothing"
        raise ImportFailed(f"Missing required column(s): {', '.join(missing)}. The header has: {found}. "
                           f"Accepted names: " + ", ".join(sorted(COLUMN_ALIASES)) + ".")
    return columns


# --- one row --------------------------------------------------------------------------------------------------

@dataclass
class _Lookups:
    stores: dict[str, int]
    guides: dict[str, tuple[int, int]]  # employee_no -> (guide id, store id)
    tiers: dict[str, int]
    entry_tier_id: int | None

    @classmethod
    def load(cls) -> _Lookups:
        entry = card_level_entry()
        return cls(
            stores=dict(Store.objects.values_list("code", "id")),
            guides={no: (gid, sid) for no, gid, sid in Guide.objects.values_list("employee_no", "id", "store_id")},
            tiers=dict(CardLevel.objects.values_list("name", "id")),
            entry_tier_id=entry.pk if entry else None,
        )


def _parse_date(value: str) -> dt.date:
    value = value.strip()
    if len(value) == 10 and value[4] == "-":
        try:
            return dt.date.fromisoformat(value)  # the common case, 100x faster than strptime
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y.%m.%d"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"'{value[:20]}' is not a date (YYYY-MM-DD)")


def _parse_moment(value: str) -> dt.datetime:
    value = value.strip()
    if len(value) in (16, 19) and value[4] == "-" and value[10] == " ":
        try:
            return timezone.make_aware(dt.datetime.fromisoformat(value))
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"):
        try:
            return timezone.make_aware(dt.datetime.strptime(value, fmt))
        except ValueError:
            continue
    day = _parse_date(value)
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day))


def _row(values: list[str], columns: dict[str, int], width: int, look: _Lookups) -> tuple:
    """A CSV row -> a staging tuple, or ValueError naming what is wrong."""
    if len(values) > width:
        raise ValueError(f"{len(values)} fields but the header has {width}")

    def get(name: str) -> str:
        index = columns.get(name)
        return values[index].strip() if index is not None and index < len(values) else ""

    problems = []
    phone = get("phone")
    try:
        phone = phone_normalize(phone)
    except ValueError as exc:
        problems.append(f"phone: {exc}" if phone else "phone: missing")
    name = get("name")
    if len(name) > 50:
        problems.append("name: longer than 50 characters")
    gender = GENDERS.get(get("gender").lower())
    if gender is None:
        problems.append(f"gender: '{get('gender')[:10]}' is not 男/女/male/female")
    birthday = joined_at = None
    try:
        birthday = _parse_date(get("birthday")) if get("birthday") else None
    except ValueError as exc:
        problems.append(f"birthday: {exc}")
    try:
        joined_at = _parse_moment(get("joined_at")) if get("joined_at") else None
    except ValueError as exc:
        problems.append(f"joined_at: {exc}")
    store_id = guide_id = guide_store_id = tier_id = None
    if get("store_code"):
        store_id = look.stores.get(get("store_code"))
        if store_id is None:
            problems.append(f"store_code: unknown store '{get('store_code')[:32]}'")
    if get("guide_employee_no"):
        found = look.guides.get(get("guide_employee_no"))
        if found is None:
            problems.append(f"guide_employee_no: unknown guide '{get('guide_employee_no')[:32]}'")
        else:
            guide_id, guide_store_id = found
    if get("tier"):
        tier_id = look.tiers.get(get("tier"))
        if tier_id is None:
            problems.append(f"tier: unknown tier '{get('tier')[:50]}'")
    if problems:
        raise ValueError("; ".join(problems))
    hashed = phone_hash(phone)
    return (hashed, encrypt(phone), name, gender, birthday, joined_at, store_id, guide_id,
            guide_store_id or store_id, tier_id)


def _merge(earlier: tuple, later: tuple) -> tuple:
    """Two rows of one batch for the same phone: as if imported one after the other (the later one's values
    win where it has any; the earliest joining date is kept)."""
    merged = [later[i] if later[i] not in (None, "", "unknown") else earlier[i] for i in range(len(later))]
    joined = [d for d in (earlier[5], later[5]) if d is not None]
    merged[5] = min(joined) if joined else None
    return tuple(merged)


# --- one batch ------------------------------------------------------------------------------------------------

_STAGE_COLUMNS = ("phone_hash", "phone", "name", "gender", "birthday", "joined_at", "join_store_id", "guide_id",
                  "store_id", "tier_id")

_UPSERT = """
WITH prev AS (
    SELECT m.id, m.phone_hash, m.tier_id, m.guide_id
    FROM members_member m JOIN members_import_stage s ON s.phone_hash = m.phone_hash
), up AS (
    INSERT INTO members_member (phone, phone_hash, name, gender, birthday, status, joined_at, join_channel,
        join_store_id, join_guide_id, store_id, guide_id, tier_id, tier_since, tier_review_at,
        earned_points_12m, spent_fen_12m, card_id, card_state, updated_at)
    SELECT s.phone, s.phone_hash, COALESCE(s.name, ''), COALESCE(s.gender, 'unknown'), s.birthday, 'active', COALESCE(s.joined_at, now()), 'import',
        s.join_store_id, s.guide_id, s.store_id, s.guide_id,
        COALESCE(s.tier_id, CASE WHEN p.id IS NULL THEN %(entry)s::bigint END),
        CASE WHEN COALESCE(s.tier_id, %(entry)s::bigint) IS NOT NULL THEN now() END,
        CASE WHEN COALESCE(s.tier_id, %(entry)s::bigint) IS NOT NULL THEN now() + interval '1 year' END,
        0, 0, '', 'none', now()
    FROM members_import_stage s LEFT JOIN prev p ON p.phone_hash = s.phone_hash
    ON CONFLICT (phone_hash) DO UPDATE SET
        phone = EXCLUDED.phone,
        name = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE members_member.name END,
        gender = CASE WHEN EXCLUDED.gender <> 'unknown' THEN EXCLUDED.gender ELSE members_member.gender END,
        birthday = COALESCE(EXCLUDED.birthday, members_member.birthday),
        joined_at = LEAST(EXCLUDED.joined_at, members_member.joined_at),
        join_store_id = COALESCE(members_member.join_store_id, EXCLUDED.join_store_id),
        join_guide_id = COALESCE(members_member.join_guide_id, EXCLUDED.join_guide_id),
        store_id = COALESCE(EXCLUDED.store_id, members_member.store_id),
        guide_id = COALESCE(EXCLUDED.guide_id, members_member.guide_id),
        tier_id = COALESCE(EXCLUDED.tier_id, members_member.tier_id),
        tier_since = CASE WHEN EXCLUDED.tier_id IS DISTINCT FROM members_member.tier_id AND EXCLUDED.tier_id
            IS NOT NULL THEN now() ELSE members_member.tier_since END,
        tier_review_at = CASE WHEN EXCLUDED.tier_id IS DISTINCT FROM members_member.tier_id AND EXCLUDED.tier_id
            IS NOT NULL THEN now() + interval '1 year' ELSE members_member.tier_review_at END,
        updated_at = now()
    RETURNING id, phone_hash, tier_id, guide_id, (xmax = 0) AS inserted
), tiers AS (
    INSERT INTO members_tierchange (member_id, from_level_id, to_level_id, kind, reason, created_at)
    SELECT up.id, p.tier_id, up.tier_id, CASE WHEN p.id IS NULL THEN 'initial' ELSE 'import' END,
        %(reason)s, now()
    FROM up LEFT JOIN prev p ON p.phone_hash = up.phone_hash
    WHERE up.tier_id IS NOT NULL AND up.tier_id IS DISTINCT FROM p.tier_id
    RETURNING 1
), guides AS (
    INSERT INTO members_guideassignment (member_id, from_guide_id, to_guide_id, reason, changed_at)
    SELECT up.id, p.guide_id, up.guide_id, %(reason)s, now()
    FROM up LEFT JOIN prev p ON p.phone_hash = up.phone_hash
    WHERE up.guide_id IS NOT NULL AND up.guide_id IS DISTINCT FROM p.guide_id
    RETURNING 1
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted),
       (SELECT count(*) FROM tiers), (SELECT count(*) FROM guides)
FROM up
"""


def _copy_text(rows: list[tuple]) -> io.StringIO:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v) for v in row])
    buf.seek(0)
    return buf


@transaction.atomic
def _import_batch(*, imp: MemberImport, rows: dict[str, tuple], duplicates: int,
                  errors: list[tuple[int, str]], consumed: int, entry_tier_id: int | None) -> None:
    created = updated = 0
    if rows:
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS members_import_stage (phone_hash text, phone text, name text, "
                "gender text, birthday date, joined_at timestamptz, join_store_id bigint, guide_id bigint, "
                "store_id bigint, tier_id bigint) ON COMMIT DELETE ROWS"
            )
            cursor.execute("TRUNCATE members_import_stage")  # nested in an outer transaction: no commit between
            cursor.cursor.copy_expert(
                f"COPY members_import_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
                _copy_text(list(rows.values())),
            )
            cursor.execute(_UPSERT, {"entry": entry_tier_id, "reason": f"import #{imp.pk}"})
            created, updated, _, _ = cursor.fetchone()
    imp_now = MemberImport.objects.filter(pk=imp.pk).values_list("rows_failed", flat=True)[0]
    keep = max(0, ERRORS_KEPT - imp_now)
    MemberImportError.objects.bulk_create(
        [MemberImportError(member_import=imp, row_number=n, message=m[:300]) for n, m in errors[:keep]]
    )
    MemberImport.objects.filter(pk=imp.pk).update(
        rows_processed=F("rows_processed") + consumed, rows_created=F("rows_created") + created,
        rows_updated=F("rows_updated") + updated + duplicates, rows_failed=F("rows_failed") + len(errors),
    )


# --- the run ----------------------------------------------------------------------------------------------------

def _finish(imp: MemberImport, status: str, error: str = "") -> MemberImport:
    MemberImport.objects.filter(pk=imp.pk).update(status=status, error=error, finished_at=timezone.now())
    imp.refresh_from_db()
    return imp


def member_import_run(*, import_id: int, batch_rows: int = BATCH_ROWS) -> MemberImport | None:
    """Run (or resume) an import. Safe to call again: a finished import is left alone and a half-done one goes
    on after the last committed batch."""
    imp = MemberImport.objects.filter(pk=import_id).first()
    if imp is None or imp.status not in (MemberImport.Status.QUEUED, MemberImport.Status.RUNNING):
        return imp
    MemberImport.objects.filter(pk=imp.pk).update(status=MemberImport.Status.RUNNING,
                                                  started_at=imp.started_at or timezone.now())
    imp.refresh_from_db()
    raw = _byte_lines(imp)
    probe: list[bytes] = []
    size = 0
    for line in raw:
        probe.append(line)
        size += len(line)
        if size >= ENCODING_PROBE_BYTES:
            break

    def chained() -> Iterator[bytes]:
        yield from probe
        yield from raw

    try:
        _probe_encoding(probe, imp.encoding)
        lines = _Lines(chained(), imp.encoding)
        reader = csv.reader(iter(lines))
        try:
            header_row = next(reader)
        except StopIteration:
            raise ImportFailed("The file is empty.") from None
        except csv.Error as exc:
            raise ImportFailed(f"The header line is not valid CSV: {exc}.") from None
        columns = _header(header_row)
    except ImportFailed as exc:
        return _finish(imp, MemberImport.Status.FAILED, str(exc))

    look = _Lookups.load()
    already = imp.rows_processed  # resume: these rows were committed by an earlier run
    seen = 0
    rows: dict[str, tuple] = {}
    duplicates = 0
    errors: list[tuple[int, str]] = []
    consumed = 0
    first_line = lines.number + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. a NUL byte or an unterminated quote
            values, problem = None, f"not valid CSV: {exc}"
        else:
            problem = None
        row_start, row_end = first_line, lines.number
        first_line = lines.number + 1
        if values is not None and not any(v.strip() for v in values):
            continue  # blank line
        seen += 1
        if seen <= already:
            continue
        consumed += 1
        if problem is None and any(n in lines.bad_lines for n in range(row_start, row_end + 1)):
            problem = f"not valid {imp.encoding.upper()} text"
        if problem is None:
            try:
                staged = _row(values, columns, len(header_row), look)
            except ValueError as exc:
                problem = str(exc)
            else:
                if staged[0] in rows:
                    duplicates += 1
                    staged = _merge(rows[staged[0]], staged)
                rows[staged[0]] = staged
        if problem is not None:
            errors.append((row_start, problem))
        if consumed >= batch_rows:
            _import_batch(imp=imp, rows=rows, duplicates=duplicates, errors=errors, consumed=consumed,
                          entry_tier_id=look.entry_tier_id)
            rows, duplicates, errors, consumed = {}, 0, [], 0
    _import_batch(imp=imp, rows=rows, duplicates=duplicates, errors=errors, consumed=consumed,
                  entry_tier_id=look.entry_tier_id)
    return _finish(imp, MemberImport.Status.DONE)
