"""The one place the shops app calls the points ledger and the members' tier rules: earn on a paid order, reverse
on a refund. Keyed by the order number, so a retry earns or reverses nothing twice."""

from __future__ import annotations

from miniprograms.models import Order


def points_for_paid_order(*, order: Order) -> None:
    if order.member_id is None or order.total_fen <= 0:
        return
    from points.services import OrderFacts, points_earn_for_order

    member = order.member
    tier = member.tier
    facts = OrderFacts(
        paid_fen=order.total_fen,
        paid_at=order.paid_at,
        store_code=order.store.code,
        tier_code=str(tier.pk) if tier else None,
        tier_multiplier_pct=int(tier.points_multiplier * 100) if tier else 100,
        birthday_month=member.birthday.month if member.birthday else None,
    )
    entry = points_earn_for_order(member=member, order_id=order.number, order=facts)
    if entry is not None and not entry.replayed:
        # The earning asked for the tier check through the account row it wrote (points_credit's mark), in this
        # transaction, which also marks the order paid: the check reads the amount spent after this commits.
        return
    from members.services import member_tier_evaluate_request

    member_tier_evaluate_request(member=member)  # no earning (0 points) or a replay: the spend counts too


def points_reverse_for_order(*, order: Order) -> None:
    if order.member_id is None:
        return
    from points.services import points_reverse_for_reference

    points_reverse_for_reference(
        member=order.member, reference=order.number, idempotency_key=f"order:{order.number}:refund", reason="refund"
    )


def points_reverse_for_refund(
    *, order: Order, refund_number: str, refunded_before_fen: int, refunded_after_fen: int
) -> None:
    """Take back the points the order earned in proportion to this refund (the share of the order's total it moves
    from `refunded_before_fen` to `refunded_after_fen`; the last refund takes all that is left). Keyed by the
    refund number: a retry reverses nothing twice."""
    if order.member_id is None or order.total_fen <= 0:
        return
    from django.db.models import Sum

    from points.models import PointsEntry
    from points.services import points_reverse_for_reference

    if refunded_after_fen >= order.total_fen:
        points = None  # all that is not reversed yet
    else:
        earned = (
            PointsEntry.objects.filter(member_id=order.member_id, kind="earn", reference=order.number).aggregate(
                n=Sum("amount")
            )["n"]
            or 0
        )
        points = earned * refunded_after_fen // order.total_fen - earned * refunded_before_fen // order.total_fen
        if points <= 0:
            return
    points_reverse_for_reference(
        member=order.member,
        reference=order.number,
        idempotency_key=f"refund:{refund_number}",
        reason="refund",
        points=points,
    )
