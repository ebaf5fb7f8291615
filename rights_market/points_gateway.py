"""The only place the rights market touches points (points.services). Runs in the accepting brand's schema.

Both calls are keyed on the exchange id, so running a step twice debits or gives back once.
"""
from __future__ import annotations

from points.services import InsufficientPoints, points_earn, points_redeem  # noqa: F401

DEBIT_REASON = "rights market exchange"
REFUND_REASON = "rights market exchange undone"


def debit_key(exchange_id: int) -> str:
    return f"market-exchange-{exchange_id}"


def refund_key(exchange_id: int) -> str:
    return f"market-undo-{exchange_id}"


def points_debit_for_exchange(*, member, points: int, exchange_id: int):
    """Debit the member for the exchange. Raises InsufficientPoints (nothing written) if the balance is short."""
    return points_redeem(member=member, points=points, idempotency_key=debit_key(exchange_id),
                         reason=DEBIT_REASON, reference=f"market:{exchange_id}")


def points_refund_for_exchange(*, member, points: int, exchange_id: int):
    """Give the exchange's points back as a new lot under the brand's expiry policy.

    Note for points: a `points_refund_redemption(key)` that restores the original lots (and their expiry) would
    be more exact; points offers no such call yet, so this credits a fresh lot keyed `market-undo-<id>`.
    """
    return points_earn(member=member, points=points, idempotency_key=refund_key(exchange_id),
                       reason=REFUND_REASON, reference=f"market:{exchange_id}")
