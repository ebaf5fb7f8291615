"""Reading a member import file: its encoding, its header and each row, apart from the database.

A row becomes a StagedRow (the phone normalised; store, guide and tier codes resolved through Lookups) or a
ValueError naming every problem in it; `copy_text` then hashes and encrypts the phones of a whole batch at once
and writes the rows as COPY text. `read_piece` does all of it for a piece of the file (whole lines, possibly on a
process of its own). A whole file that cannot be read (encoding, header) raises ImportFailed.
members.services.imports cuts the file into pieces, stages them with COPY and writes them with SQL.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from django.utils import timezone

from core.crypto import encrypt_many, keyed_hasher
from members.selectors import PHONE_HASH_PURPOSE, phone_normalize

# Column names as brands' old CRMs export them -> ours.
COLUMN_ALIASES = {
    "phone": "phone",
    "mobile": "phone",
    "手机": "phone",
    "手机号": "phone",
    "手机号码": "phone",
    "name": "name",
    "姓名": "name",
    "gender": "gender",
    "性别": "gender",
    "birthday": "birthday",
    "生日": "birthday",
    "出生日期": "birthday",
    "joined_at": "joined_at",
    "入会时间": "joined_at",
    "注册时间": "joined_at",
    "store_code": "store_code",
    "门店编码": "store_code",
    "门店代码": "store_code",
    "guide_employee_no": "guide_employee_no",
    "导购工号": "guide_employee_no",
    "tier": "tier",
    "等级": "tier",
    "会员等级": "tier",
}
REQUIRED_COLUMNS = ("phone", "name")
GENDERS = {
    "": "unknown",
    "男": "male",
    "m": "male",
    "male": "male",
    "1": "male",
    "女": "female",
    "f": "female",
    "female": "female",
    "2": "female",
    "未知": "unknown",
    "unknown": "unknown",
    "0": "unknown",
}


class ImportFailed(Exception):
    """The whole file cannot be imported (encoding, header)."""


class StagedRow(NamedTuple):
    """One member as a row of the file gives it, in the staging table's column order."""

    phone_hash: str  # empty until copy_text
    phone: str  # the normalised phone; encrypted by copy_text
    name: str
    gender: str
    birthday: dt.date | None
    joined_at: dt.datetime | None
    join_store_id: int | None
    guide_id: int | None
    store_id: int | None  # the guide's store when a guide is given, else the row's store
    tier_id: int | None

    def merged_with(self, later: StagedRow) -> StagedRow:
        """This row and a later one for the same phone, as if imported one after the other: the later one's
        values win where it has any; the earliest joining date is kept."""
        merged = {
            name: new if new not in (None, "", "unknown") else old
            for name, old, new in zip(self._fields, self, later, strict=True)
        }
        joined = [d for d in (self.joined_at, later.joined_at) if d is not None]
        merged["joined_at"] = min(joined) if joined else None
        return StagedRow(**merged)


@dataclass
class Lookups:
    """What rows refer to by code, loaded once per run."""

    stores: dict[str, int]  # store code -> id
    guides: dict[str, tuple[int, int]]  # employee_no -> (guide id, store id)
    tiers: dict[str, int]  # tier name -> id
    entry_tier_id: int | None
    tz: dt.tzinfo = field(default_factory=timezone.get_current_timezone)  # of dates in the file


# --- the file -------------------------------------------------------------------------------------------------


@dataclass
class Lines:
    """Decodes line by line; a line that does not decode is remembered (its row is reported) not fatal."""

    raw: Iterator[bytes]
    encoding: str
    bad_lines: set[int] = field(default_factory=set)
    number: int = 0

    def __iter__(self) -> Iterator[str]:
        for line in self.raw:
            self.number += 1
            if self.number == 1 and self.encoding == "utf-8" and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            try:
                yield line.decode(self.encoding)
            except UnicodeDecodeError:
                self.bad_lines.add(self.number)
                yield line.decode(self.encoding, errors="replace")


def probe_encoding(lines: list[bytes], encoding: str) -> None:
    """The first 64 KB must decode: a file in another encoding fails at once, not with 100k row errors."""
    for number, line in enumerate(lines, start=1):
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[len(codecs.BOM_UTF8) :]
        try:
            line.decode(encoding)
        except UnicodeDecodeError as exc:
            hint = (
                " Save it as 'CSV UTF-8', or start the import with encoding 'gb18030' if it came from Excel "
                "or a Chinese CRM."
                if encoding == "utf-8"
                else " Check the encoding chosen for the import."
            )
            raise ImportFailed(
                f"The file is not valid {encoding.upper()} (line {number}, byte {exc.start + 1})." + hint
            ) from None


def header_columns(row: list[str]) -> dict[str, int]:
    """The index of each of our columns in the header row (aliases accepted)."""
    columns: dict[str, int] = {}
    for index, name in enumerate(row):
        key = COLUMN_ALIASES.get(name.strip().lower()) or COLUMN_ALIASES.get(name.strip())
        if key and key not in columns:
            columns[key] = index
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        found = ", ".join(repr(c.strip()) for c in row[:20]) or "nothing"
        raise ImportFailed(
            f"Missing required column(s): {', '.join(missing)}. The header has: {found}. "
            f"Accepted names: " + ", ".join(sorted(COLUMN_ALIASES)) + "."
        )
    return columns


# --- one row --------------------------------------------------------------------------------------------------


def parse_date(value: str) -> dt.date:
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


def parse_moment(value: str, tz: dt.tzinfo | None = None) -> dt.datetime:
    value = value.strip()
    tz = tz or timezone.get_current_timezone()
    if len(value) in (16, 19) and value[4] == "-" and value[10] == " ":
        try:
            moment = dt.datetime.fromisoformat(value)  # 16 or 19 characters: no UTC offset, naive
        except ValueError:
            pass
        else:
            return dt.datetime(  # moment.replace(tzinfo=tz) (what make_aware does with a zoneinfo zone), faster
                moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second, moment.microsecond,
                tzinfo=tz, fold=moment.fold,
            )  # fmt: skip
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"):
        try:
            return timezone.make_aware(dt.datetime.strptime(value, fmt), tz)
        except ValueError:
            continue
    day = parse_date(value)
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day), tz)


_FIELDS = ("phone", "name", "gender", "birthday", "joined_at", "store_code", "guide_employee_no", "tier")


def parse_row(values: list[str], columns: dict[str, int], width: int, look: Lookups) -> StagedRow:
    """A CSV row -> a StagedRow, or ValueError naming everything that is wrong with it."""
    count = len(values)
    if count > width:
        raise ValueError(f"{count} fields but the header has {width}")
    phone, name, gender_value, birthday_value, joined_value, store_code, guide_no, tier_name = [
        values[index].strip() if index is not None and index < count else "" for index in map(columns.get, _FIELDS)
    ]  # each of our columns' value, stripped; "" where the file has no such column or the row is short
    problems = []
    try:
        phone = phone_normalize(phone)
    except ValueError as exc:
        problems.append(f"phone: {exc}" if phone else "phone: missing")
    if len(name) > 50:
        problems.append("name: longer than 50 characters")
    gender = GENDERS.get(gender_value) or GENDERS.get(gender_value.lower())
    if gender is None:
        problems.append(f"gender: '{gender_value[:10]}' is not 男/女/male/female")
    birthday = joined_at = None
    if birthday_value:
        try:
            birthday = parse_date(birthday_value)
        except ValueError as exc:
            problems.append(f"birthday: {exc}")
    if joined_value:
        try:
            joined_at = parse_moment(joined_value, look.tz)
        except ValueError as exc:
            problems.append(f"joined_at: {exc}")
    store_id = guide_id = guide_store_id = tier_id = None
    if store_code:
        store_id = look.stores.get(store_code)
        if store_id is None:
            problems.append(f"store_code: unknown store '{store_code[:32]}'")
    if guide_no:
        found = look.guides.get(guide_no)
        if found is None:
            problems.append(f"guide_employee_no: unknown guide '{guide_no[:32]}'")
        else:
            guide_id, guide_store_id = found
    if tier_name:
        tier_id = look.tiers.get(tier_name)
        if tier_id is None:
            problems.append(f"tier: unknown tier '{tier_name[:50]}'")
    if problems:
        raise ValueError("; ".join(problems))
    return StagedRow(
        "", phone, name, gender, birthday, joined_at, store_id, guide_id, guide_store_id or store_id, tier_id
    )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if type(value) is str:
        return (
            value.translate(_COPY_ESCAPES)
            if ("\\" in value or "\t" in value or "\n" in value or "\r" in value)
            else value
        )
    if type(value) is int:
        return str(value)
    return value.isoformat()


def copy_text(rows: list[StagedRow], *, hashes: bool = False):
    """The rows as COPY text (StagedRow's columns, tab-separated) with each phone sealed: replaced by its ciphertext
    (core.crypto.encrypt_many, one call for the batch) and its blind index (members.selectors.phone_hash, the key
    derived once) set. With `hashes`: (the text, the blind indexes in row order).

    Each value is written as _copy_value writes it, inline (a function call per value was half the cost): the
    gender is one of GENDERS' values, the ids ints, the dates date and datetime objects."""
    hasher = keyed_hasher(PHONE_HASH_PURPOSE)
    sealed = encrypt_many([row.phone for row in rows])
    blind = [hasher(row.phone) for row in rows]
    escapes = _COPY_ESCAPES
    names = [
        name.translate(escapes) if ("\\" in name or "\t" in name or "\n" in name or "\r" in name) else name
        for name in (row.name for row in rows)
    ]
    null = "\\N"
    text = "".join(
        f"{phone_hash}\t{cipher}\t{name}\t{gender}\t{null if birthday is None else birthday.isoformat()}\t"
        f"{null if joined_at is None else joined_at.isoformat()}\t{null if join_store_id is None else join_store_id}\t"
        f"{null if guide_id is None else guide_id}\t{null if store_id is None else store_id}\t"
        f"{null if tier_id is None else tier_id}\n"
        for (
            _,
            _,
            _,
            gender,
            birthday,
            joined_at,
            join_store_id,
            guide_id,
            store_id,
            tier_id,
        ), cipher, phone_hash, name in zip(rows, sealed, blind, names, strict=True)
    )
    return (text, blind) if hashes else text


# --- one piece of the file --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """What every piece of one file is read with: the header's columns, its width, the look-ups, the encoding."""

    columns: dict[str, int]
    width: int
    look: Lookups
    encoding: str


class Piece(NamedTuple):
    """Whole lines of the file after its header: `first_line` is the file's line number of the first one (the
    header is line 1). `last`: the piece ends where the file does."""

    data: bytes
    first_line: int
    last: bool = False
    skip: int = 0  # resuming: the piece's first `skip` rows (blank lines not counted) were committed before


class PieceRead(NamedTuple):
    """A piece read and sealed: one batch for members.services.imports."""

    copy: str  # COPY text of its rows (copy_text), one per phone, in the order the phones first appear
    rows: int  # lines of `copy`
    duplicates: int  # rows merged into an earlier row of the piece with the same phone
    errors: list[tuple[int, str]]  # (line number, message)
    consumed: int  # rows read (blank lines not counted, skipped ones not counted)
    seen: int  # rows read including skipped ones
    clean: bool  # the piece ends at the end of a row, not inside a quoted field that goes on in the next piece
    phones: frozenset[str] = frozenset()  # the blind indexes of its rows (a batch's overlap with another's)


def read_piece(piece: Piece, reading: Reading) -> PieceRead:
    """Parse, merge (a phone twice: StagedRow.merged_with) and seal one piece, as reading the whole file from the
    top would read these lines, provided the piece starts where a row starts.

    `clean` says whether it also ends where a row ends: after its last line the reader is given one more, empty
    line; outside a quoted field that is a blank row of its own, inside one it is swallowed by the field. A piece
    that is not clean (a quoted field with line breaks cut in two, or a stray quote) is read again together with
    the next one by the caller; the file's last piece ends the file and gets no extra line."""
    data = piece.data
    encoding = reading.encoding
    bad_lines: set[int] = set()
    try:
        text_lines = data.decode(encoding).split("\n")
    except UnicodeDecodeError:  # line by line: a line that does not decode is its row's error, not the piece's
        text_lines = []
        for number, raw in enumerate(data.split(b"\n"), start=piece.first_line):
            try:
                text_lines.append(raw.decode(encoding))
            except UnicodeDecodeError:
                bad_lines.add(number)
                text_lines.append(raw.decode(encoding, errors="replace"))
    tail = text_lines.pop()  # after the last line break: "" unless the file ends without one
    lines = [line + "\n" for line in text_lines]
    if tail:
        lines.append(tail)
    ends_at = len(lines)  # lines of the piece; one more (the probe for `clean`) unless it is the file's last
    if not piece.last:
        lines.append("\n")
    reader = csv.reader(lines)
    columns, width, look = reading.columns, reading.width, reading.look
    rows: dict[str, StagedRow] = {}
    errors: list[tuple[int, str]] = []
    duplicates = consumed = seen = 0
    clean = piece.last
    offset = piece.first_line - 1
    done = 0  # lines the reader has taken
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # e.g. an unterminated quote at the end of the file
            values, problem = None, f"not valid CSV: {exc}"
        else:
            problem = None
        row_start, done = offset + done + 1, reader.line_num
        if done > ends_at:  # the probe line was read
            clean = clean or (values == [] and row_start == offset + ends_at + 1)
            if row_start > offset + ends_at:
                break
        if values is not None and not "".join(values).strip():
            continue  # blank line: no field has anything but white space
        seen += 1
        if seen <= piece.skip:
            continue
        consumed += 1
        if problem is None and bad_lines and any(n in bad_lines for n in range(row_start, offset + done + 1)):
            problem = f"not valid {encoding.upper()} text"
        if problem is None:
            try:
                staged = parse_row(values, columns, width, look)
            except ValueError as exc:
                problem = str(exc)
            else:
                earlier = rows.get(staged.phone)
                if earlier is not None:
                    duplicates += 1
                    staged = earlier.merged_with(staged)
                rows[staged.phone] = staged
        if problem is not None:
            errors.append((row_start, problem))
    staged_rows = list(rows.values())
    copy, hashes = copy_text(staged_rows, hashes=True)
    return PieceRead(copy, len(staged_rows), duplicates, errors, consumed, seen, clean, frozenset(hashes))
