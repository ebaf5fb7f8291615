"""Property-based: random sequences of earn, redeem, adjust, expire, reverse and retries keep the ledger's
invariants after every step, and agree with a small in-memory model of the lots."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from points.services import (
    InsufficientPoints,
    points_adjust,
    points_earn,
    points_expire_due,
    points_redeem,
    points_reverse_for_reference,
)
from tests.points.ledger_checks import ledger_invariants_assert

DAY = timedelta(days=1)

earn = st.tuples(st.just("earn"), st.integers(1, 100), st.integers(1, 60))
redeem = st.tuples(st.just("redeem"), st.integers(1, 80))
adjust = st.tuples(st.just("adjust"), st.integers(-60, 60).filter(bool), st.integers(1, 60))
expire = st.tuples(st.just("expire"), st.integers(0, 20))
reverse = st.tuples(st.just("reverse"), st.integers(0, 9), st.one_of(st.none(), st.integers(1, 80)))
retry = st.tuples(st.just("retry"))
operations = st.lists(st.one_of(earn, redeem, adjust, expire, reverse, retry), min_size=1, max_size=25)


@dataclass
class Lot:
    id: int
    expires_day: int
    remaining: int
    amount: int
    reference: str


class Model:
    """What the ledger should hold, computed without a database."""

    def __init__(self):
        self.lots: list[Lot] = []
        self.reversed: dict[str, int] = {}
        self.ids = itertools.count()

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    def credit(self, points: int, expires_day: int, reference: str = "") -> None:
        self.lots.append(Lot(next(self.ids), expires_day, points, points, reference))

    def debit(self, points: int) -> bool:
        if points > self.balance:
            return False
        for lot in sorted(self.lots, key=lambda lot: (lot.expires_day, lot.id)):
            n = min(lot.remaining, points)
            lot.remaining -= n
            points -= n
        return True

    def expire(self, today: int) -> None:
        for lot in self.lots:
            if lot.expires_day <= today:
                lot.remaining = 0

    def reverse(self, reference: str, points: int | None) -> tuple[int, int] | None:
        """(points taken back, shortfall), or None when nothing is left to reverse."""
        earned = sum(lot.amount for lot in self.lots if lot.reference == reference)
        left = earned - self.reversed.get(reference, 0)
        target = left if points is None else min(points, left)
        if target <= 0:
            return None
        self.reversed[reference] = self.reversed.get(reference, 0) + target
        taken = 0
        for lot in self.lots:
            if lot.reference == reference:
                n = min(lot.remaining, target - taken)
                lot.remaining -= n
                taken += n
        return taken, target - taken


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
@example(ops=[("earn", 10, 5), ("earn", 10, 50), ("redeem", 10), ("expire", 10)])  # oldest lot spent first
@example(ops=[("earn", 10, 3), ("expire", 3)])  # due exactly at its expiry time
@example(ops=[("earn", 50, 9), ("redeem", 30), ("reverse", 0, None), ("retry",), ("reverse", 0, None)])
@example(ops=[("earn", 50, 9), ("reverse", 0, 20), ("reverse", 0, None), ("adjust", -5, 1), ("adjust", 5, 1)])
def test_random_sequences_keep_the_invariants(make_member, hq_user, ops):
    member = make_member()
    model = Model()
    start = timezone.now()
    today = 0
    orders = 0
    last_call = None

    for step, op in enumerate(ops):
        key = f"m{member.pk}:{step}"
        if op[0] == "earn":
            _, points, days = op
            reference = f"order-{orders}"
            orders += 1
            call = (
                points_earn,
                dict(
                    member=member,
                    points=points,
                    idempotency_key=key,
                    reason="order",
                    reference=reference,
                    expires_at=start + (today + days) * DAY,
                ),
            )
            model.credit(points, today + days, reference)
        elif op[0] == "redeem":
            call = (points_redeem, dict(member=member, points=op[1], idempotency_key=key, reason="coupon"))
        elif op[0] == "adjust":
            _, points, days = op
            call = (
                points_adjust,
                dict(
                    member=member,
                    points=points,
                    idempotency_key=key,
                    actor=hq_user,
                    reason="fix",
                    expires_at=start + (today + days) * DAY,
                ),
            )
            if points > 0:
                model.credit(points, today + days)
        elif op[0] == "expire":
            today += op[1]
            call = (points_expire_due, dict(now=start + today * DAY))
            model.expire(today)
        elif op[0] == "reverse":
            reference = f"order-{op[1] % max(orders, 1)}"
            call = (
                points_reverse_for_reference,
                dict(member=member, reference=reference, idempotency_key=key, reason="refund", points=op[2]),
            )
            expected_reverse = model.reverse(reference, op[2])
        else:  # retry the previous call with the same key: nothing may change
            if last_call is None:
                continue
            call = last_call
            balance_before = ledger_invariants_assert(member)

        function, kwargs = call
        debit = (op[0] == "redeem") or (op[0] == "adjust" and op[1] < 0)
        try:
            result = function(**kwargs)
            if op[0] == "reverse":
                got = None if result is None else (-result.amount, result.shortfall)
                assert got == expected_reverse, (step, op, got, expected_reverse)
            if debit:
                assert model.debit(abs(op[1])), f"step {step}: the ledger allowed a debit the model refused"
        except InsufficientPoints:
            assert op[0] == "retry" or (debit and not model.debit(abs(op[1]))), f"step {step}: refused wrongly"

        balance = ledger_invariants_assert(member)
        if op[0] == "retry":
            assert balance == balance_before
        assert balance == model.balance, (step, op, balance, model.balance)
        last_call = call
