"""Money as people type it in the console: yuan with at most two decimals, turned into integer fen exactly."""

from __future__ import annotations

from core.errors import ApplicationError


def fen_from_yuan(raw: str, *, blank_is_none: bool = False) -> int | None:
    """'12.5' -> 1250, '¥1,234.56' -> 123456, '' -> None (when allowed). No float anywhere."""
    raw = (raw or "").strip().replace("¥", "").replace(",", "")
    if not raw:
        if blank_is_none:
            return None
        raise ApplicationError("Enter a price.")
    whole, _sep, cents = raw.partition(".")
    if not whole.isdigit() or (cents and (not cents.isdigit() or len(cents) > 2)):
        raise ApplicationError("A price is a number of yuan with at most two decimals.")
    return int(whole) * 100 + int((cents + "00")[:2])
