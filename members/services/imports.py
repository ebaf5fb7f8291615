"""Import of a brand's historical members from CSV.

The file arrives in chunks (each under the request body limit), then Celery runs it batch by batch. Each batch
is one transaction that also advances the progress counters, so staff watch progress, a crashed worker resumes
where the last batch ended, and a re-run of the same file updates members (matched on the phone's keyed hash)
instead of duplicating them. A bad row is reported with its line number and the good rows go in; a file in the
wrong encoding or without the required columns fails at once with a message that says so.

Reading the file (encoding, header, rows) is members.services.import_parsing; this module stores the chunks, cuts
the file into pieces of whole rows, has each read and sealed (phones hashed and encrypted in bulk, rows turned into
COPY text) - on worker processes forked by the task when the file is big - and writes each piece as one batch:
staged with COPY, new phones inserted by one statement (without a conflict check while the run's batches have
only new phones: _NewPhones), the others upserted by a second. Writer threads with their
own connections (two by default) write batches n and n+1 at once while the next pieces are read (Python on the
readers, PostgreSQL on the writers); batches still commit one at a time in file order (_Turn). A row that changes nothing of its member writes nothing (a
re-run of the same file is cheap). The tier history of imported members follows members.services.tiers: an
initial TierChange for a new member, member_tiers_moved for the others.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import ctypes
import io
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from psycopg2 import errors as pg_errors

from core.errors import ApplicationError, Conflict
from core.tasks import enqueue, sends_repeat_stale
from members.models import (
    CardLevel,
    Guide,
    MemberImport,
    MemberImportChunk,
    MemberImportError,
    Store,
    TierChange,
)
from members.selectors import card_level_entry
from members.services.import_parsing import (
    ImportFailed,
    Lines,
    Lookups,
    Piece,
    PieceRead,
    Reading,
    StagedRow,
    header_columns,
    probe_encoding,
    read_piece,
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
    imp.queued_at = timezone.now()
    imp.save(update_fields=["status", "queued_at"])
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
        queued_at=timezone.now(),
        started_at=None,
        finished_at=None,
    )
    enqueue("members.import_run", imp.pk)
    imp.refresh_from_db()
    return imp


def member_imports_send_stuck(*, now=None, older_than: timedelta = timedelta(minutes=10), limit: int = 100) -> int:
    """The periodic sweep: send again the run of imports still `queued` a while after their run was sent (the send
    failed after the commit, which core.tasks.enqueue logs rather than raises, or the message was lost). Sending a
    run twice is safe: member_import_run goes on after the last committed batch and leaves a finished import alone.
    Returns how many were sent again."""
    return sends_repeat_stale(
        MemberImport.objects.filter(status=MemberImport.Status.QUEUED),
        field="queued_at",
        task="members.import_run",
        now=now or timezone.now(),
        older_than=older_than,
        limit=limit,
    )


def member_import_from_bytes(
    *, filename: str, content: bytes, encoding: str = MemberImport.Encoding.UTF8, created_by_id: int | None = None
) -> MemberImport:
    """Create, upload and queue in one go (admin, scripts)."""
    imp = member_import_create(filename=filename, encoding=encoding, created_by_id=created_by_id)
    for seq, start in enumerate(range(0, max(len(content), 1), CHUNK_MAX_BYTES)):
        member_import_chunk_add(member_import=imp, seq=seq, data=content[start : start + CHUNK_MAX_BYTES])
    return member_import_start(member_import=imp)


# --- reading the file ---------------------------------------------------------------------------------------------


def _chunks(imp: MemberImport) -> Iterator[bytes]:
    for chunk_id in imp.chunks.order_by("seq").values_list("id", flat=True):
        yield bytes(MemberImportChunk.objects.filter(pk=chunk_id).values_list("data", flat=True)[0])


def _open(imp: MemberImport) -> tuple[list[str], int, Iterator[bytes]]:
    """(the header row, the line number the rows start on, the bytes after the header). The first 64 KB (whole
    lines) must decode: a file in another encoding fails at once (ImportFailed), not with 100k row errors."""
    chunks = _chunks(imp)
    head = b""
    complete = 0  # bytes of head up to its last line break
    for chunk in chunks:
        head += chunk
        complete = head.rfind(b"\n") + 1
        if complete >= ENCODING_PROBE_BYTES:
            break
    else:
        complete = len(head)  # the whole file is in head
    probe, size, at = [], 0, 0
    while at < complete and size < ENCODING_PROBE_BYTES:
        end = head.find(b"\n", at, complete) + 1 or complete
        probe.append(head[at:end])
        size, at = size + end - at, end
    probe_encoding(probe, imp.encoding)
    reader = csv.reader(iter(Lines(iter(probe), imp.encoding)))
    try:
        header_row = next(reader)
    except StopIteration:
        raise ImportFailed("The file is empty.") from None
    except csv.Error as exc:
        raise ImportFailed(f"The header line is not valid CSV: {exc}.") from None
    header_bytes = sum(len(line) for line in probe[: reader.line_num])

    def body() -> Iterator[bytes]:
        yield head[header_bytes:]
        yield from chunks

    return header_row, reader.line_num + 1, body()


def _pieces(body: Iterator[bytes], first_line: int, lines_per_piece: int) -> Iterator[Piece]:
    """The rows' bytes in pieces of about `lines_per_piece` whole lines, each cut where a row ends (`_cut_at`;
    read_piece's `clean` checks it again). The last piece is marked."""
    buf = b""
    line = first_line
    ready: Piece | None = None
    for data in body:
        buf += data
        while True:
            cut = _cut_at(buf, lines_per_piece)
            if cut is None:
                break
            if ready is not None:
                yield ready
            ready, buf = Piece(buf[:cut], line), buf[cut:]
            line += ready.data.count(b"\n")
    if buf:
        if ready is not None:
            yield ready
        ready = Piece(buf, line)
    if ready is not None:
        yield ready._replace(last=True)


def _cut_at(buf: bytes, lines: int) -> int | None:
    """Where the first row that ends on or after buf's `lines`-th line ends, as the CSV reader reads (so never
    inside a quoted field, whatever stray quotes there are); None: read more first. Read as latin-1, every byte a
    character: the quotes, commas and line breaks of UTF-8 and GB18030 text are single ASCII bytes that never
    occur inside a multi-byte character, so the rows end where they end in the real encoding. Lines without a
    quote character are cut without the reader (about 2 us a row less on the task's process, issue 17)."""
    if buf.count(b"\n") < lines:
        return None
    end = -1
    for _line in range(lines):
        end = buf.find(b"\n", end + 1)
    if buf.find(b'"', 0, end) < 0:
        return end + 1  # no quote in these lines: each is a row of its own (only a quoted field spans lines)
    text = buf.decode("latin-1").split("\n")
    text.pop()  # after the last line break: not a whole line
    reader = csv.reader([line + "\n" for line in text] + ["\n"])  # one more line: a row still open takes it
    while reader.line_num < lines:
        try:
            next(reader)
        except StopIteration:
            return None
        except csv.Error:
            continue  # the reader starts again on the next line, as it does when the rows are read
    if reader.line_num > len(text):
        return None  # a quoted field goes on past what is here
    end = -1
    for _line in range(reader.line_num):
        end = buf.find(b"\n", end + 1)
    return end + 1


class _PieceReaders:
    """Pieces read (read_piece) on worker processes, in file order, at most two per process ahead.

    The processes are forked when the run starts, before its writer thread, from the task's process, so they have
    its settings, code and look-ups without a start-up of their own. They read and seal only: they never touch the
    database connection they inherit (and end with os._exit, which does not close it)."""

    def __init__(self, reading: Reading, processes: int) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_reader_start,
            initargs=(reading,),
        )
        self._ahead = 2 * processes
        # A Celery prefork worker's process counts as daemonic and multiprocessing refuses it children. These are
        # children of this run only: they are shut down (joined) when it ends, by `close`, on every path out.
        me = multiprocessing.current_process()
        daemon = me._config.get("daemon")
        me._config["daemon"] = False
        try:
            self._pool.submit(int).result()  # forks every process now (with "fork", all at the first submit)
        except BaseException:
            self._pool.shutdown(wait=True)
            raise
        finally:
            me._config["daemon"] = daemon

    def map(self, pieces: Iterator[Piece]) -> Iterator[tuple[Piece, Future]]:
        window: collections.deque[tuple[Piece, Future]] = collections.deque()
        for piece in pieces:
            window.append((piece, self._pool.submit(_reader_read, piece)))
            if len(window) >= self._ahead:
                yield window.popleft()
        while window:
            yield window.popleft()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_reading: Reading | None = None  # in a reader process


def _reader_start(reading: Reading) -> None:
    """In a new reader process: what it reads with; it dies with the task's process (Linux's parent-death
    signal), so a task killed by a time limit or the OOM killer leaves no reader behind, and it leaves the signals
    a Celery worker handles to their defaults."""
    global _reading
    _reading = reading
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):  # not Linux: they end when the pool shuts down, as always
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


def _reader_read(piece: Piece) -> PieceRead:
    return read_piece(piece, _reading)


def _reads(
    pieces: Iterator[Piece], reading: Reading, readers: _PieceReaders | None, already: int
) -> Iterator[PieceRead]:
    """Every piece read, in file order, as one sequential read of the file would: a piece that does not end where
    a row ends is read again with the next one (here, on this process), and so on. `already`: rows committed by an
    earlier run of the import, skipped."""
    dispatched = readers.map(pieces) if readers is not None else ((piece, None) for piece in pieces)
    seen = 0
    carry: Piece | None = None
    for piece, pending in dispatched:
        if carry is not None:
            piece, pending = Piece(carry.data + piece.data, carry.first_line, piece.last), None
        if seen < already:
            piece, pending = piece._replace(skip=already - seen), None
        read = pending.result() if pending is not None else read_piece(piece, reading)
        if not read.clean:
            carry = piece._replace(skip=0)
            continue
        carry = None
        seen += read.seen
        if read.consumed:
            yield read


# --- one batch ------------------------------------------------------------------------------------------------

_STAGE_COLUMNS = StagedRow._fields

_INSERT_NEW = """
WITH new AS (
    INSERT INTO members_member (phone, phone_hash, name, gender, birthday, status, joined_at, join_channel,
        join_store_id, join_guide_id, store_id, guide_id, tier_id, tier_since, tier_review_at,
        earned_points_12m, spent_fen_12m, card_id, card_state, updated_at)
    SELECT s.phone, s.phone_hash, COALESCE(s.name, ''), COALESCE(s.gender, 'unknown'), s.birthday, 'active',
        COALESCE(s.joined_at, now()), 'import', s.join_store_id, s.guide_id, s.store_id, s.guide_id,
        t.tier_id, CASE WHEN t.tier_id IS NOT NULL THEN %(now)s::timestamptz END,
        CASE WHEN t.tier_id IS NOT NULL THEN %(review)s::timestamptz END, 0, 0, '', 'none', now()
    FROM members_import_stage s, LATERAL (SELECT COALESCE(s.tier_id, %(entry)s::bigint) AS tier_id) t
    ORDER BY s.phone_hash COLLATE "C"
    ON CONFLICT (phone_hash) DO NOTHING
    RETURNING id, tier_id, guide_id, xmin
), tiers AS (
    INSERT INTO members_tierchange (member_id, from_level_id, to_level_id, kind, reason, created_at)
    SELECT id, NULL, tier_id, %(initial)s, %(reason)s, %(now)s FROM new WHERE tier_id IS NOT NULL
), guides AS (
    INSERT INTO members_guideassignment (member_id, from_guide_id, to_guide_id, reason, changed_at)
    SELECT id, NULL, guide_id, %(reason)s, now() FROM new WHERE guide_id IS NOT NULL
)
SELECT count(*), max(xmin::text) FROM new
"""
# First the batch's phones no member has: inserted with their history (an initial TierChange, as
# members.services.tiers writes it for a first tier; a GuideAssignment). Nothing is probed before: the unique blind
# index decides, also against a member who registers at this moment (the insert waits for that transaction and then
# leaves the phone to the upsert below). PostgreSQL runs every data-modifying WITH to completion. Returns how many
# were inserted and the (sub)transaction id they carry as xmin: when some phones were left, _STAGE_INSERTED_OUT
# takes the inserted ones out of the stage before the upsert (when none were, nothing is taken out: a new member
# costs no delete from the stage, about 2.5 us of PostgreSQL CPU a row, issue 17).

_INSERT_ALL_NEW = _INSERT_NEW.replace("    ON CONFLICT (phone_hash) DO NOTHING\n", "")
assert _INSERT_ALL_NEW != _INSERT_NEW
# _INSERT_NEW when every phone of the batch is expected to be new (_NewPhones): no conflict check of its own (an
# ON CONFLICT insert probes the blind index once more and logs a confirmation a row), the unique index alone
# refuses a known phone, and the batch then runs _INSERT_NEW (the attempt was in a savepoint).

_STAGE_INSERTED_OUT = """
DELETE FROM members_import_stage s USING (
    SELECT s2.phone_hash
    FROM members_import_stage s2 CROSS JOIN LATERAL (
        SELECT xmin FROM members_member WHERE phone_hash = s2.phone_hash LIMIT 1
    ) m
    WHERE m.xmin = %(inserted_by)s::xid
) n
WHERE s.phone_hash = n.phone_hash
"""
# The phones _INSERT_NEW inserted: their member's row version was written by this batch's own (sub)transaction
# (xmin); a member that existed, or that a concurrent registration inserted, carries another. Taking them out only
# saves the upsert their work: it would find them and change nothing (each value merged with itself).

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
    ORDER BY s.phone_hash COLLATE "C"
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
# The phones left (members that exist, found by a second statement with a snapshot of its own, so it sees whoever
# the insert above conflicted with). Each row written: (member id, inserted, tier before, tier after); the tier
# history is written from these. A
# member the row changes nothing of is not written at all (a re-run of the same file costs no row versions) and
# counts as updated; the phone's ciphertext is kept (same blind index, same phone). Rows go in blind-index order,
# so two imports writing the same members lock them in the same order. The guides CTE runs although nothing reads
# it (PostgreSQL runs every data-modifying WITH to completion).


@dataclass
class _NewPhones:
    """Whether a run's next batch is expected to have only new phones (a first import of a CRM's file): then it is
    inserted without ON CONFLICT (_INSERT_ALL_NEW), in a savepoint; the first batch with a known phone is inserted
    again with _INSERT_NEW, and so is every batch after it in the run. So a first import costs less a new member,
    and any other file loses at most one batch a writer's insert."""

    expected: bool = True


@dataclass
class _Turn:
    """Where a batch written on one of several writer connections (`member_import_run`) stands among the others.

    Batches still commit one after the other in file order: each takes an advisory lock of its own (`key`) as its
    transaction starts and, once its rows are written, waits for the lock of the batch before it (`previous`),
    which PostgreSQL releases when that transaction ends; it then commits only if that batch did, that is if the
    import's progress is `processed_before`. So a batch's SQL runs while the one before it is still writing, the
    progress is never ahead of what is committed (resume is unchanged), a batch after a failed one commits nothing,
    and every wait is on a lock PostgreSQL sees (a deadlock with other transactions is detected, not a hang)."""

    key: str
    previous: str | None
    processed_before: int
    started: threading.Event = field(default_factory=threading.Event)  # `key` is held (or the batch has ended)


class _PreviousBatchFailed(RuntimeError):
    """The batch before this one did not commit: this one commits nothing either."""


_ADVISORY_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"


def _wait_for_previous(imp: MemberImport, turn: _Turn) -> None:
    """Until the batch before this one has ended (its lock is released at its commit or rollback); then whether it
    committed, read with a snapshot taken after it ended."""
    if turn.previous is not None:
        with connection.cursor() as cursor:
            cursor.execute(_ADVISORY_LOCK, [turn.previous])
    processed = MemberImport.objects.filter(pk=imp.pk).values_list("rows_processed", flat=True)[0]
    if processed != turn.processed_before:
        raise _PreviousBatchFailed(f"import {imp.pk}: the batch before did not commit ({processed} rows processed)")


@transaction.atomic
def _import_batch(
    *,
    imp: MemberImport,
    copy: str,
    rows: int,
    duplicates: int,
    errors: list[tuple[int, str]],
    consumed: int,
    entry_tier_id: int | None,
    turn: _Turn | None = None,
    new_phones: _NewPhones | None = None,
) -> None:
    """Write one batch (a piece of the file, read and sealed: `copy` holds its `rows` rows as COPY text) and count
    it in the import's progress, in one transaction. With a `turn` (several writers), the progress waits for the
    batch before to commit first (_Turn).

    The commit does not wait for the WAL flush (synchronous_commit off for this transaction only): a crash of the
    database server can lose the last batches committed, but each loses its progress with it (same transaction),
    so the task run again redoes exactly those; the import's `done` is committed normally, after every batch."""
    created = updated = 0
    if turn is not None:
        with connection.cursor() as cursor:
            cursor.execute(_ADVISORY_LOCK, [turn.key])
        turn.started.set()
    if rows:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO off")
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS members_import_stage (phone_hash text, phone text, name text, "
                "gender text, birthday date, joined_at timestamptz, join_store_id bigint, guide_id bigint, "
                "store_id bigint, tier_id bigint) ON COMMIT DELETE ROWS"
            )
            cursor.execute("TRUNCATE members_import_stage")  # nested in an outer transaction: no commit between
            cursor.cursor.copy_expert(
                f"COPY members_import_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN", io.StringIO(copy)
            )
            now = timezone.now()  # a tier set by this batch starts its year now (members.services.tiers)
            params = {
                "entry": entry_tier_id,
                "reason": f"import #{imp.pk}",
                "now": now,
                "review": one_year_after(now),
                "initial": TierChange.Kind.INITIAL,
            }
            created = None
            if new_phones is not None and new_phones.expected:
                try:
                    with transaction.atomic():
                        cursor.execute(_INSERT_ALL_NEW, params)
                        created = cursor.fetchone()[0]
                except IntegrityError as exc:
                    if not isinstance(exc.__cause__, pg_errors.UniqueViolation):
                        raise
                    new_phones.expected = False  # a known phone (or one registered meanwhile): as for any file
            if created is None:
                cursor.execute(_INSERT_NEW, params)
                created, inserted_by = cursor.fetchone()
            written = []
            if created < rows:
                if created:
                    cursor.execute(_STAGE_INSERTED_OUT, {"inserted_by": inserted_by})
                cursor.execute(_UPSERT, params)
                written = cursor.fetchall()
        created += sum(1 for _, inserted, _, _ in written if inserted)
        updated = rows - created
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
    if turn is not None:
        _wait_for_previous(imp, turn)
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


def member_import_run(
    *, import_id: int, batch_rows: int = BATCH_ROWS, processes: int | None = None, writers: int | None = None
) -> MemberImport | None:
    """Run (or resume) an import. Safe to call again: a finished import is left alone and a half-done one goes
    on after the last committed batch.

    The file is cut into pieces of about `batch_rows` lines; each is read, checked, merged and sealed
    (import_parsing.read_piece) and then written as one batch. A file of more than two pieces is read on
    `processes` worker processes (default settings.EKR_IMPORT_PROCESSES, 0 meaning one per CPU up to 4: one
    writer keeps up with no more) while batches are written in file order: the result is the one reading it on
    one process gives (tests/members/test_import_parallel.py). A resumed run reads on this process.

    Batches are written on `writers` connections (default settings.EKR_IMPORT_WRITERS), each on a thread of its
    own, so PostgreSQL writes batch n+1 on one core while batch n is written on another (a new member costs about
    25 us of PostgreSQL CPU, most of it index entries and foreign-key checks: one connection alone caps the import
    near 40,000 rows/s). They still commit in file order (_Turn). A batch that has a phone of a batch still being
    written waits for that one to end before it starts: "the later row wins" as with one writer, and no two of this
    run's transactions ever wait for the same member row."""
    imp = MemberImport.objects.filter(pk=import_id).first()
    if imp is None or imp.status not in (MemberImport.Status.QUEUED, MemberImport.Status.RUNNING):
        return imp
    MemberImport.objects.filter(pk=imp.pk).update(
        status=MemberImport.Status.RUNNING, started_at=imp.started_at or timezone.now()
    )
    imp.refresh_from_db()
    try:
        header_row, first_line, body = _open(imp)
        columns = header_columns(header_row)
    except ImportFailed as exc:
        return _finish(imp, MemberImport.Status.FAILED, str(exc))

    look = _lookups_load()
    reading = Reading(columns=columns, width=len(header_row), look=look, encoding=imp.encoding)
    processes = processes or settings.EKR_IMPORT_PROCESSES or min(os.cpu_count() or 1, 4)
    parallel = processes > 1 and imp.rows_processed == 0 and imp.lines_received > 2 * batch_rows
    readers = _PieceReaders(reading, processes) if parallel else None  # forked before the writer thread starts
    # Reading (Python, on this process or the readers) and writing (PostgreSQL, through the writers' own
    # connections) overlap; inside a transaction (tests) a second connection could not see the caller's rows, so
    # batches are written inline.
    inline = connection.in_atomic_block
    pool = [_BatchWriter(connection.tenant) for _ in range(max(1, writers or settings.EKR_IMPORT_WRITERS))]
    pool = [] if inline else pool
    in_flight: collections.deque[tuple[_BatchWriter, _Turn, frozenset[str]]] = collections.deque()  # file order
    processed = imp.rows_processed
    lock_prefix = f"member-import:{connection.schema_name}:{imp.pk}:"
    new_phones = _NewPhones()
    try:
        for seq, read in enumerate(_reads(_pieces(body, first_line, batch_rows), reading, readers, processed)):
            batch = {
                "imp": imp,
                "copy": read.copy,
                "rows": read.rows,
                "duplicates": read.duplicates,
                "errors": read.errors,
                "consumed": read.consumed,
                "entry_tier_id": look.entry_tier_id,
                "new_phones": new_phones,
            }
            if inline:
                _import_batch(**batch)
                continue
            writer = pool[seq % len(pool)]
            if len(in_flight) == len(pool):  # this writer's last batch: committed, or its error raised here
                in_flight.popleft()[0].wait()
            phones = read.phones if len(pool) > 1 else frozenset()
            for index in range(len(in_flight) - 1, -1, -1):
                if _overlap(phones, in_flight[index][2]):  # the same phone: after that batch and those before it
                    for _ in range(index + 1):
                        in_flight.popleft()[0].wait()
                    break
            previous = in_flight[-1][1] if in_flight else None
            if previous is not None:
                previous.started.wait()  # it holds its lock before this batch can wait for it
            turn = _Turn(
                key=f"{lock_prefix}{seq}",
                previous=previous.key if previous is not None else None,
                processed_before=processed,
            )
            writer.submit(**batch, turn=turn)
            in_flight.append((writer, turn, phones))
            processed += read.consumed
        while in_flight:  # in file order: the first batch that failed raises its own error
            in_flight.popleft()[0].wait()
    except OperationalError as exc:
        if len(pool) < 2 or not isinstance(exc.__cause__, pg_errors.DeadlockDetected):
            raise
        deadlocked = exc
    else:
        deadlocked = None
    finally:
        for writer in pool:  # every thread and connection closed; a batch's error is raised above, not here
            with contextlib.suppress(Exception):
                writer.close()
        if readers is not None:
            readers.close()
    if deadlocked is not None:
        # Two of this run's batches wait for each other only through a third transaction (another import of the
        # same members at this moment: its rows lock in blind-index order, but across two of our transactions).
        # PostgreSQL rolled one back; what is committed stands and the rest goes on with one writer.
        logger.warning("member import %s: %s; going on with one writer", imp.pk, deadlocked)
        return member_import_run(import_id=imp.pk, batch_rows=batch_rows, processes=processes, writers=1)
    return _finish(imp, MemberImport.Status.DONE)


def _overlap(phones: frozenset[str], other: frozenset[str]) -> bool:
    """Whether two batches share a phone (their blind indexes, PieceRead.phones: found on the reader)."""
    return not phones.isdisjoint(other)


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
        try:
            connection.set_tenant(self._tenant)  # this thread's connection
            _import_batch(**batch)
        finally:
            if batch.get("turn") is not None:
                batch["turn"].started.set()  # also when it failed before taking its lock: the next one goes on

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
