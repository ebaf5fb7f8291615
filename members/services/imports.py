"""Import of a brand's historical members from CSV.

The file arrives in chunks (each under the request body limit), then Celery runs it batch by batch. Each batch
is one transaction that also advances the progress counters, so staff watch progress, a crashed worker resumes
where the last batch ended, and a re-run of the same file updates members (matched on the phone's keyed hash)
instead of duplicating them. A bad row is reported with its line number and the good rows go in; a file in the
wrong encoding or without the required columns fails at once with a message that says so.

Reading the file (encoding, header, rows) is members.services.import_parsing; this module stores the chunks,
seals each batch (phones hashed and encrypted in bulk), stages it with COPY and writes it with one SQL upsert. On
the worker a writer thread with its own connection writes batch n while the task parses batch n+1 (parsing in
Python and writing in PostgreSQL use two cores); batches still commit one at a time in file order. A row that
changes nothing of its member writes nothing (a re-run of the same file is cheap). The tier history of imported members is written
by members.services.tiers, like every other tier change.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict
from core.tasks import enqueue
from members.models import CardLevel, Guide, MemberImport, MemberImportChunk, MemberImportError, Store
from members.selectors import card_level_entry
from members.services.import_parsing import (
    ImportFailed,
    Lines,
    Lookups,
    StagedRow,
    header_columns,
    parse_row,
    probe_encoding,
    seal_rows,
)
from members.services.tiers import TierMove, member_tiers_moved, one_year_after

logger = logging.getLogger(__name__)

CHUNK_MAX_BYTES = 900 * 1024
FILE_MAX_BYTES = 512 * 1024 * 1024
BATCH_ROWS = 5000
ERRORS_KEPT = 10_000
ENCODING_PROBE_BYTES = 64 * 1024

# --- upload -----------------------------------------------------------------------------------------------------


@transaction.atomic
def member_import_create(
    *, filename: str, encoding: str = MemberImport.Encoding.UTF8, created_by_id: int | None = None
) -> MemberImport:
    imp = MemberImport(filename=filename[:200], encoding=encoding, created_by_id=created_by_id)
    imp.full_clean()
    imp.save()
    return imp


@transaction.atomic
def member_import_chunk_add(*, member_import: MemberImport, seq: int, data: bytes) -> MemberImport:
    """Append chunk `seq` (0, 1, 2 ...) of the file. Sending the same chunk again is harmless."""
    imp = MemberImport.objects.select_for_update().get(pk=member_import.pk)
    if imp.status != MemberImport.Status.UPLOADING:
        raise Conflict(_("This import has already started."), code="import_started")
    if not data:
        raise ApplicationError(_("Empty chunk."), code="empty_chunk")
    if len(data) > CHUNK_MAX_BYTES:
        raise ApplicationError(
            _("A chunk is at most %(max_bytes)s bytes."),
            params={"max_bytes": CHUNK_MAX_BYTES},
            code="chunk_too_large",
            status_code=413,
        )
    existing = MemberImportChunk.objects.filter(member_import=imp, seq=seq).first()
    if existing is not None:
        if bytes(existing.data) != data:
            raise Conflict(
                _("Chunk %(seq)s was already sent with other content."), params={"seq": seq}, code="chunk_conflict"
            )
        return imp
    if imp.size_bytes + len(data) > FILE_MAX_BYTES:
        raise ApplicationError(_("The file is too large."), code="file_too_large", status_code=413)
    MemberImportChunk.objects.create(member_import=imp, seq=seq, data=data)
    imp.size_bytes += len(data)
    imp.lines_received += data.count(b"\n")
    imp.save(update_fields=["size_bytes", "lines_received"])
    return imp


@transaction.atomic
def member_import_start(*, member_import: MemberImport) -> MemberImport:
    """Queue the import once every chunk is in. Chunks must be numbered 0..n-1 without gaps."""

    imp = MemberImport.objects.select_for_update().get(pk=member_import.pk)
    if imp.status != MemberImport.Status.UPLOADING:
        return imp
    seqs = list(imp.chunks.order_by("seq").values_list("seq", flat=True))
    if not seqs:
        raise ApplicationError(_("Upload the file first."), code="import_empty")
    if seqs != list(range(len(seqs))):
        missing = sorted(set(range(max(seqs) + 1)) - set(seqs))
        raise ApplicationError(
            _("Chunks missing: %(missing)s."), code="chunks_missing", params={"missing": missing[:20]}
        )
    imp.status = MemberImport.Status.QUEUED
    imp.save(update_fields=["status"])
    enqueue("members.import_run", imp.pk)
    return imp


@transaction.atomic
def member_import_rerun(*, member_import: MemberImport) -> MemberImport:
    """Run a finished import again from the top: its rows update the members they created (matched on phone)."""

    imp = MemberImport.objects.select_for_update().get(pk=member_import.pk)
    if imp.status not in (MemberImport.Status.DONE, MemberImport.Status.FAILED):
        raise Conflict(_("This import is not finished."), code="import_running")
    imp.errors.all().delete()
    MemberImport.objects.filter(pk=imp.pk).update(
        status=MemberImport.Status.QUEUED,
        rows_processed=0,
        rows_created=0,
        rows_updated=0,
        rows_failed=0,
        error="",
        started_at=None,
        finished_at=None,
    )
    enqueue("members.import_run", imp.pk)
    imp.refresh_from_db()
    return imp


def member_import_from_bytes(
    *, filename: str, content: bytes, encoding: str = MemberImport.Encoding.UTF8, created_by_id: int | None = None
) -> MemberImport:
    """Create, upload and queue in one go (admin, scripts)."""
    imp = member_import_create(filename=filename, encoding=encoding, created_by_id=created_by_id)
    for seq, start in enumerate(range(0, max(len(content), 1), CHUNK_MAX_BYTES)):
        member_import_chunk_add(member_import=imp, seq=seq, data=content[start : start + CHUNK_MAX_BYTES])
    return member_import_start(member_import=imp)


# --- reading the file ---------------------------------------------------------------------------------------------


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


# --- one batch ------------------------------------------------------------------------------------------------

_STAGE_COLUMNS = StagedRow._fields

_UPSERT = """
WITH prev AS (
    SELECT m.id, m.phone_hash, m.tier_id, m.guide_id
    FROM members_import_stage s CROSS JOIN LATERAL (
        SELECT id, phone_hash, tier_id, guide_id FROM members_member WHERE phone_hash = s.phone_hash LIMIT 1
    ) m  -- one blind-index probe per row, whatever the planner thinks of the brand's size
), up AS (
    INSERT INTO members_member (phone, phone_hash, name, gender, birthday, status, joined_at, join_channel,
        join_store_id, join_guide_id, store_id, guide_id, tier_id, tier_since, tier_review_at,
        earned_points_12m, spent_fen_12m, card_id, card_state, updated_at)
    SELECT s.phone, s.phone_hash, COALESCE(s.name, ''), COALESCE(s.gender, 'unknown'), s.birthday, 'active', COALESCE(s.joined_at, now()), 'import',
        s.join_store_id, s.guide_id, s.store_id, s.guide_id,
        t.tier_id, CASE WHEN t.tier_id IS NOT NULL THEN %(now)s::timestamptz END,
        CASE WHEN t.tier_id IS NOT NULL THEN %(review)s::timestamptz END,
        0, 0, '', 'none', now()
    FROM members_import_stage s LEFT JOIN prev p ON p.phone_hash = s.phone_hash,
        LATERAL (SELECT COALESCE(s.tier_id, CASE WHEN p.id IS NULL THEN %(entry)s::bigint END) AS tier_id) t
    ORDER BY s.phone_hash
    ON CONFLICT (phone_hash) DO UPDATE SET
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
            IS NOT NULL THEN EXCLUDED.tier_since ELSE members_member.tier_since END,
        tier_review_at = CASE WHEN EXCLUDED.tier_id IS DISTINCT FROM members_member.tier_id AND EXCLUDED.tier_id
            IS NOT NULL THEN EXCLUDED.tier_review_at ELSE members_member.tier_review_at END,
        updated_at = now()
    WHERE (members_member.name, members_member.gender, members_member.birthday, members_member.joined_at,
            members_member.join_store_id, members_member.join_guide_id, members_member.store_id,
            members_member.guide_id, members_member.tier_id)
        IS DISTINCT FROM (
            CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE members_member.name END,
            CASE WHEN EXCLUDED.gender <> 'unknown' THEN EXCLUDED.gender ELSE members_member.gender END,
            COALESCE(EXCLUDED.birthday, members_member.birthday),
            LEAST(EXCLUDED.joined_at, members_member.joined_at),
            COALESCE(members_member.join_store_id, EXCLUDED.join_store_id),
            COALESCE(members_member.join_guide_id, EXCLUDED.join_guide_id),
            COALESCE(EXCLUDED.store_id, members_member.store_id),
            COALESCE(EXCLUDED.guide_id, members_member.guide_id),
            COALESCE(EXCLUDED.tier_id, members_member.tier_id))
    RETURNING id, phone_hash, tier_id, guide_id, (xmax = 0) AS inserted
), guides AS (
    INSERT INTO members_guideassignment (member_id, from_guide_id, to_guide_id, reason, changed_at)
    SELECT up.id, p.guide_id, up.guide_id, %(reason)s, now()
    FROM up LEFT JOIN prev p ON p.phone_hash = up.phone_hash
    WHERE up.guide_id IS NOT NULL AND up.guide_id IS DISTINCT FROM p.guide_id
    RETURNING 1
)
SELECT up.id, up.inserted, p.tier_id, up.tier_id
FROM up LEFT JOIN prev p ON p.phone_hash = up.phone_hash
"""
# Each row written: (member id, inserted, tier before, tier after); the tier history is written from these. A
# member the row changes nothing of is not written at all (a re-run of the same file costs no row versions) and
# counts as updated; the phone's ciphertext is kept (same blind index, same phone). Rows go in blind-index order,
# so two imports writing the same members lock them in the same order. The guides CTE runs although nothing reads
# it (PostgreSQL runs every data-modifying WITH to completion).


def _copy_text(rows: list[StagedRow]) -> io.StringIO:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else (v.isoformat() if hasattr(v, "isoformat") else v) for v in row])
    buf.seek(0)
    return buf


@transaction.atomic
def _import_batch(
    *,
    imp: MemberImport,
    rows: dict[str, StagedRow],
    duplicates: int,
    errors: list[tuple[int, str]],
    consumed: int,
    entry_tier_id: int | None,
) -> None:
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
                _copy_text(seal_rows(list(rows.values()))),
            )
            cursor.execute("ANALYZE members_import_stage")  # a temp table has no statistics until analysed
            now = timezone.now()  # a tier set by this batch starts its year now (members.services.tiers)
            cursor.execute(
                _UPSERT,
                {"entry": entry_tier_id, "reason": f"import #{imp.pk}", "now": now, "review": one_year_after(now)},
            )
            written = cursor.fetchall()
        created = sum(1 for _, inserted, _, _ in written if inserted)
        updated = len(rows) - created
        member_tiers_moved(
            moves=[
                TierMove(member_id=member_id, from_level_id=before, to_level_id=after, first=inserted)
                for member_id, inserted, before, after in written
                if after is not None and after != before
            ],
            reason=f"import #{imp.pk}",
            now=now,
            year_restarted=True,
        )
    imp_now = MemberImport.objects.filter(pk=imp.pk).values_list("rows_failed", flat=True)[0]
    keep = max(0, ERRORS_KEPT - imp_now)
    MemberImportError.objects.bulk_create(
        [MemberImportError(member_import=imp, row_number=n, message=m[:300]) for n, m in errors[:keep]]
    )
    MemberImport.objects.filter(pk=imp.pk).update(
        rows_processed=F("rows_processed") + consumed,
        rows_created=F("rows_created") + created,
        rows_updated=F("rows_updated") + updated + duplicates,
        rows_failed=F("rows_failed") + len(errors),
    )


# --- the run ----------------------------------------------------------------------------------------------------


def _lookups_load() -> Lookups:
    entry = card_level_entry()
    return Lookups(
        stores=dict(Store.objects.values_list("code", "id")),
        guides={no: (gid, sid) for no, gid, sid in Guide.objects.values_list("employee_no", "id", "store_id")},
        tiers=dict(CardLevel.objects.values_list("name", "id")),
        entry_tier_id=entry.pk if entry else None,
    )


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
    MemberImport.objects.filter(pk=imp.pk).update(
        status=MemberImport.Status.RUNNING, started_at=imp.started_at or timezone.now()
    )
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
        probe_encoding(probe, imp.encoding)
        lines = Lines(chained(), imp.encoding)
        reader = csv.reader(iter(lines))
        try:
            header_row = next(reader)
        except StopIteration:
            raise ImportFailed("The file is empty.") from None
        except csv.Error as exc:
            raise ImportFailed(f"The header line is not valid CSV: {exc}.") from None
        columns = header_columns(header_row)
    except ImportFailed as exc:
        return _finish(imp, MemberImport.Status.FAILED, str(exc))

    look = _lookups_load()
    # Parsing (Python, this thread) and writing (PostgreSQL, through the writer's own connection) overlap; inside
    # a transaction (tests) a second connection could not see the caller's rows, so batches are written inline.
    writer = _BatchWriter(connection.tenant) if not connection.in_atomic_block else None
    try:
        return _run_rows(imp, reader, lines, header_row, columns, look, batch_rows, writer)
    finally:
        if writer is not None:
            writer.close()


def _run_rows(imp, reader, lines, header_row, columns, look, batch_rows, writer) -> MemberImport:
    def write(**batch) -> None:
        if writer is None:
            _import_batch(**batch)
        else:
            writer.submit(**batch)

    already = imp.rows_processed  # resume: these rows were committed by an earlier run
    seen = 0
    rows: dict[str, StagedRow] = {}
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
                staged = parse_row(values, columns, len(header_row), look)
            except ValueError as exc:
                problem = str(exc)
            else:
                if staged.phone in rows:  # the normalised phone (hashed and encrypted with the batch)
                    duplicates += 1
                    staged = rows[staged.phone].merged_with(staged)
                rows[staged.phone] = staged
        if problem is not None:
            errors.append((row_start, problem))
        if consumed >= batch_rows:
            write(
                imp=imp,
                rows=rows,
                duplicates=duplicates,
                errors=errors,
                consumed=consumed,
                entry_tier_id=look.entry_tier_id,
            )
            rows, duplicates, errors, consumed = {}, 0, [], 0
    write(imp=imp, rows=rows, duplicates=duplicates, errors=errors, consumed=consumed, entry_tier_id=look.entry_tier_id)
    if writer is not None:
        writer.wait()  # the last batch is committed (or its error raised here) before the import is done
    return _finish(imp, MemberImport.Status.DONE)


class _BatchWriter:
    """Writes batches (`_import_batch`) on a thread of its own, with its own database connection in the same brand
    schema, while the caller parses the next batch: the worker's Python and PostgreSQL use two cores at once.

    One batch in flight: `submit` waits for the previous one first, so batches commit one after the other in file
    order (progress, resume and "the later row wins" are as with one thread) and at most two batches are in memory.
    A batch that fails raises from the next `submit`, `wait` or `close`; nothing after it is written."""

    def __init__(self, tenant) -> None:
        self._tenant = tenant
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="member-import")
        self._pending: Future | None = None

    def _write(self, batch: dict) -> None:
        connection.set_tenant(self._tenant)  # this thread's connection
        _import_batch(**batch)

    def submit(self, **batch) -> None:
        self.wait()
        self._pending = self._pool.submit(self._write, batch)

    def wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.submit(lambda: connection.close()).result()  # the thread's own connection
            self._pool.shutdown()
