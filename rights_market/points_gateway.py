"""The only place the rights market touches points (points.services). Runs in the accepting brand's schema.

Every call is keyed on the exchange id, so running a step twice debits or gives back once.
"""

from __future__ import annotations

from points.selectors import balance_of
from points.services import (  # noqa: F401
    InsufficientPoints,
    points_balance_changed,
    points_redeem,
    points_restore_to_lots,
)

DEBIT_REASON = "rights market exchange"
REFUND_REASON = "rights market exchange undone"


def debit_key(exchange_id: int) -> str:
    return f"market-exchange-{exchange_id}"


def refund_key(exchange_id: int) -> str:
    return f"market-restore-{exchange_id}"


def legacy_refund_key(exchange_id: int) -> str:
    """The key under which undos were credited as a fresh lot before points could restore lots."""
    return f"market-undo-{exchange_id}"


def debited_in_sql(*, member) -> None:
    """public.market_redeem debited the member (public.points_debit, key debit_key(exchange id), reason
    DEBIT_REASON): what points does after a debit of its own follows."""
    points_balance_changed(member=member)


def points_balance(*, member) -> int:
    return balance_of(member=member)


def points_balance_sql() -> str:
    """SQL of the member's balance (one %s: the member id; NULL before their first entry), as a scalar subquery
    of another statement, on the current brand's ledger (unqualified: the search path's brand)."""
    from points.models import PointsAccount

    return f"SELECT a.balance FROM {PointsAccount._meta.db_table} a WHERE a.member_id = %s"


def points_debit_for_exchange(*, member, points: int, exchange_id: int):
    """Debit the member for the exchange. Raises InsufficientPoints (nothing written) if the balance is short."""
    return points_redeem(
        member=member,
        points=points,
        idempotency_key=debit_key(exchange_id),
        reason=DEBIT_REASON,
        reference=f"market:{exchange_id}",
    )


def points_refund_for_exchange(*, member, points: int, exchange_id: int):
    """Give the exchange's points back to the lots they came from, with their original expiry (points that
    expired meanwhile stay expired: the restore entry's shortfall). Keyed on the exchange: once."""
    from points.models import PointsEntry

    if PointsEntry.objects.filter(idempotency_key=legacy_refund_key(exchange_id)).exists():
        return None  # given back before this change, as a fresh lot
    return points_restore_to_lots(
        member=member, debit_key=debit_key(exchange_id), idempotency_key=refund_key(exchange_id), reason=REFUND_REASON
    )
