"""Reading a member import file: its encoding, its header and each row, apart from the database.

A row becomes a StagedRow (the phone normalised; store, guide and tier codes resolved through Lookups) or a
ValueError naming every problem in it; `seal_rows` then hashes and encrypts the phones of a whole batch at once. A whole file that cannot be read (encoding, header)
raises ImportFailed. members.services.imports stages the rows and writes them with SQL.
"""

from __future__ import annotations

import codecs
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

    phone_hash: str  # empty until seal_rows
    phone: str  # the normalised phone; encrypted by seal_rows
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
            return timezone.make_aware(dt.datetime.fromisoformat(value), tz)
        except ValueError:
            pass
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M"):
        try:
            return timezone.make_aware(dt.datetime.strptime(value, fmt), tz)
        except ValueError:
            continue
    day = parse_date(value)
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day), tz)


def parse_row(values: list[str], columns: dict[str, int], width: int, look: Lookups) -> StagedRow:
    """A CSV row -> a StagedRow, or ValueError naming everything that is wrong with it."""
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
        birthday = parse_date(get("birthday")) if get("birthday") else None
    except ValueError as exc:
        problems.append(f"birthday: {exc}")
    try:
        joined_at = parse_moment(get("joined_at"), look.tz) if get("joined_at") else None
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
    return StagedRow(
        phone_hash="",
        phone=phone,
        name=name,
        gender=gender,
        birthday=birthday,
        joined_at=joined_at,
        join_store_id=store_id,
        guide_id=guide_id,
        store_id=guide_store_id or store_id,
        tier_id=tier_id,
    )


def seal_rows(rows: list[StagedRow]) -> list[StagedRow]:
    """The rows with each phone replaced by its ciphertext and its blind index (members.selectors.phone_hash) set:
    hashed with the key derived once, encrypted in one call for the batch (core.crypto.encrypt_many)."""
    hasher = keyed_hasher(PHONE_HASH_PURPOSE)
    sealed = encrypt_many([row.phone for row in rows])
    return [row._replace(phone_hash=hasher(row.phone), phone=cipher) for row, cipher in zip(rows, sealed, strict=True)]
