"""What members asks of the apps above it. members sits below points and miniprograms and never imports them;
those apps fill these hooks in their `AppConfig.ready()` (as apps fill the callback registry).

- Tier inputs: the tier rules need figures other apps keep. points registers `"earned_points"` (points earned
  since a moment), miniprograms registers `"spent_fen"` (fen paid in orders since a moment). A figure nobody
  registered reads as 0.
- Tier checks asked for in another app's own write: points marks the account row an earn locks anyway
  (points_credit) instead of asking Redis; it registers how to find the marked members, clear a mark and put one
  back. The tier check clears every registered mark first thing, before it reads the figures
  (members.services.tiers.member_tier_refresh), and the brand's sweep of marks runs the check of each marked member
  (members.services.tiers.member_tier_checks_run).
- The points balance a member card shows: points registers the reader, and the same balance as an expression
  over a Member queryset's rows (`OuterRef("pk")`), so a read of the member can carry it in the same statement;
  and as SQL over a member id column, for reads written once in SQL (members.selectors.member_profile_of).
- Join channel: when a registration names no channel, resolvers registered here may name one from what they
  know of the openid (livestream: the openid was just watching a live room -> "live_stream"). First answer wins.
- Member registered: points registers the sign-up bonus. Hooks run inside the registration's transaction, in
  the order they were registered, and must be idempotent per member (registration may be retried).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.db.models import Expression

    from members.models import Member

TierInput = Callable[["Member", dt.datetime], int]


@dataclass(frozen=True)
class TierCheckMarks:
    """An app's own "tier check asked for" marks. `clear(member_id)` removes the member's mark, waiting for any
    write in flight that may have found it set (so the figures read after it include that write); `marked(limit)`
    gives up to `limit` marked member ids, oldest mark first; `restore(member_id)` marks the member again (a check
    that failed after clearing it)."""

    clear: Callable[[int], object]
    marked: Callable[[int], list[int]]
    restore: Callable[[int], object]


MemberHook = Callable[["Member"], object]

EARNED_POINTS = "earned_points"
SPENT_FEN = "spent_fen"

_tier_inputs: dict[str, TierInput] = {}
_tier_check_marks: list[TierCheckMarks] = []
_balance_reader: list[Callable[[Member], int]] = []
_balance_expression: list[Callable[[], Expression]] = []
_balance_sql: list[Callable[[str], str]] = []
_on_registered: list[MemberHook] = []
_join_channel_resolvers: list[Callable[[str], str | None]] = []


def tier_input_register(name: str, reader: TierInput) -> None:
    """`reader(member, since)` gives the figure `name` for the member since `since`. One reader per name."""
    _tier_inputs[name] = reader


def tier_input_read(name: str, *, member: Member, since: dt.datetime) -> int:
    reader = _tier_inputs.get(name)
    return int(reader(member, since)) if reader is not None else 0


def tier_check_marks_register(marks: TierCheckMarks) -> None:
    if marks not in _tier_check_marks:
        _tier_check_marks.append(marks)


def tier_check_marks_clear(member_id: int) -> None:
    for marks in _tier_check_marks:
        marks.clear(member_id)


def tier_check_marks_restore(member_id: int) -> None:
    for marks in _tier_check_marks:
        marks.restore(member_id)


def tier_check_marked(limit: int) -> list[int]:
    """Up to `limit` members with a tier check asked for in some app's mark (oldest first within each app)."""
    found: dict[int, None] = {}
    for marks in _tier_check_marks:
        found.update(dict.fromkeys(marks.marked(limit)))
    return list(found)[:limit]


def points_balance_reader_register(reader: Callable[[Member], int]) -> None:
    _balance_reader[:] = [reader]


def points_balance_read(member: Member) -> int:
    return int(_balance_reader[0](member)) if _balance_reader else 0


def points_balance_expression_register(expression: Callable[[], Expression]) -> None:
    """`expression()` is the balance of the member of each row of a Member queryset (0 before any entry)."""
    _balance_expression[:] = [expression]


def points_balance_expression() -> Expression:
    """For `Member.objects.annotate(x=points_balance_expression())`: the balance, or 0 when nobody registered."""
    from django.db.models import BigIntegerField, Value

    return _balance_expression[0]() if _balance_expression else Value(0, output_field=BigIntegerField())


def points_balance_sql_register(sql: Callable[[str], str]) -> None:
    """`sql(member_id_column)` is an SQL expression of the balance of the member whose id is in that column (0
    before any entry), the same figure as the expression above."""
    _balance_sql[:] = [sql]


def points_balance_sql(member_id_column: str) -> str:
    """The balance as SQL over `member_id_column` (e.g. `m."id"`), or 0 when nobody registered."""
    return _balance_sql[0](member_id_column) if _balance_sql else "0"


def member_registered_subscribe(hook: MemberHook) -> None:
    if hook not in _on_registered:
        _on_registered.append(hook)


def member_registered_notify(member: Member) -> None:
    for hook in _on_registered:
        hook(member)


def join_channel_resolver_register(resolver: Callable[[str], str | None]) -> None:
    if resolver not in _join_channel_resolvers:
        _join_channel_resolvers.append(resolver)


def join_channel_resolve(openid: str) -> str | None:
    for resolver in _join_channel_resolvers:
        channel = resolver(openid)
        if channel:
            return channel
    return None
