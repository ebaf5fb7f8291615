"""Points: the interface other apps call. Every function is keyword-only, runs in one transaction (a savepoint
inside the caller's), and takes an idempotency key unique within the brand: the same key again returns the
first entry (entry.replayed is True) and changes nothing; the same key with other parameters raises
core.errors.Conflict (409, code "idempotency_key_reused"). Balance changes queue the WeChat member card update
after commit.

Ledger (points.services.ledger):
    points_earn(*, member, points, idempotency_key, reason, reference="", expires_at=None) -> PointsEntry
    points_redeem(*, member, points, idempotency_key, reason, reference="") -> PointsEntry
        raises InsufficientPoints (409, "insufficient_points"); the balance never goes below zero
    points_adjust(*, member, points, idempotency_key, actor, reason, expires_at=None) -> PointsEntry
    points_reverse_for_reference(*, member, reference, idempotency_key, reason, points=None) -> PointsEntry | None
        a refund: takes back what `reference` earned and is not yet spent; the rest is the entry's shortfall
    points_restore_to_lots(*, member, debit_key, idempotency_key, reason) -> PointsEntry | None
        an undo: gives a debit back to the lots it took from, with their expiry; expired lots are the shortfall
    points_expire_due(*, now) -> int   (the daily task; per brand)
    points_balance_changed(*, member) -> None
        after public.points_debit ran inside another app's SQL function: the card update after commit

Earning rules (points.services.rules):
    points_earn_for_order(*, member, order_id, order: OrderFacts) -> PointsEntry | None   key "order:<id>:earn"
    points_signup_bonus_grant(*, member) -> PointsEntry | None                            key "signup:<member>"
    earning_for_order(*, order) / earning_preview(*, order, campaign=None, policy_changes=None)

Expiry (points.services.expiry):
    lot_expiry_for(*, earned_at, policy=None)
"""

from points.services.expiry import lot_expiry_for  # noqa: F401
from points.services.ledger import (  # noqa: F401
    InsufficientPoints,
    points_adjust,
    points_balance_changed,
    points_earn,
    points_expire_due,
    points_redeem,
    points_restore_to_lots,
    points_reverse_for_reference,
)
from points.services.rules import (  # noqa: F401
    EarningBreakdown,
    OrderFacts,
    earning_for_order,
    earning_preview,
    points_earn_for_order,
    points_signup_bonus_grant,
)
