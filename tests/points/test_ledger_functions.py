"""The ledger's SQL functions (points_credit, points_debit): the same rules as the Python they replaced."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction

from core.errors import ApplicationError
from points.models import PointsAccount, PointsEntry, PointsLot, PointsPolicy
from points.services import points_earn, points_redeem
from points.services.expiry import lot_expiry_for
from tests.points.ledger_checks import ledger_invariants_assert

SHANGHAI = ZoneInfo("Asia/Shanghai")
MOMENTS = [
    datetime(2026, 1, 31, 12, 0, tzinfo=SHANGHAI),  # month end: Feb has no 31st
    datetime(2024, 2, 29, 8, 0, tzinfo=SHANGHAI),  # leap day
    datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI),  # the last minute of a year in Shanghai ...
    datetime(2026, 12, 31, 16, 30, tzinfo=ZoneInfo("UTC")),  # ... and its first half hour of the next one
    datetime(2026, 6, 15, 0, 0, tzinfo=SHANGHAI),
]


@pytest.mark.parametrize(
    "policy",
    [None, ("months", 12), ("months", 1), ("months", 13), ("end_of_next_year", 12), ("never", 12)],
    ids=["no policy row", "12 months", "1 month", "13 months", "end of next year", "never"],
)
def test_sql_expiry_is_the_python_expiry(alpha, policy):
    if policy is not None:
        PointsPolicy.objects.update_or_create(pk=1, defaults={"expiry_mode": policy[0], "expiry_months": policy[1]})
    python_policy = PointsPolicy.objects.filter(pk=1).first() or PointsPolicy()

    with connection.cursor() as cursor:
        for moment in MOMENTS:
            cursor.execute("SELECT points_lot_expiry(%s)", [moment])
            assert cursor.fetchone()[0] == lot_expiry_for(earned_at=moment, policy=python_policy), moment


def test_earned_lot_expires_by_the_policy_at_the_time(member):
    PointsPolicy.objects.update_or_create(pk=1, defaults={"expiry_mode": "months", "expiry_months": 3})

    entry = points_earn(member=member, points=5, idempotency_key="k-exp", reason="order")

    lot = PointsLot.objects.get(entry_id=entry.pk)
    assert lot.expires_at == lot_expiry_for(earned_at=entry.created_at)


def test_replay_inside_a_callers_transaction_leaves_it_usable(member):
    first = points_earn(member=member, points=40, idempotency_key="k-in-tx", reason="order")

    with transaction.atomic():
        again = points_earn(member=member, points=40, idempotency_key="k-in-tx", reason="order")
        spent = points_redeem(member=member, points=15, idempotency_key="k-in-tx-r", reason="coupon")
        spent_again = points_redeem(member=member, points=15, idempotency_key="k-in-tx-r", reason="coupon")

    assert (again.pk, again.replayed) == (first.pk, True)
    assert (spent_again.pk, spent_again.replayed) == (spent.pk, True)
    assert PointsAccount.objects.get(member=member).balance == 25
    assert PointsEntry.objects.filter(member=member).count() == 2
    ledger_invariants_assert(member)


def test_a_callers_rollback_undoes_the_ledger_write(member):
    points_earn(member=member, points=10, idempotency_key="k-base", reason="order")

    with pytest.raises(RuntimeError), transaction.atomic():
        points_redeem(member=member, points=4, idempotency_key="k-undone", reason="coupon")
        raise RuntimeError("the order failed after the debit")

    assert PointsAccount.objects.get(member=member).balance == 10
    assert not PointsEntry.objects.filter(idempotency_key="k-undone").exists()


def test_lots_short_of_the_balance_refuse_the_debit_and_write_nothing(member):
    entry = points_earn(member=member, points=10, idempotency_key="k-short", reason="order")
    with connection.cursor() as cursor:  # a ledger that does not add up (only possible by hand)
        cursor.execute("UPDATE points_pointslot SET remaining = 2 WHERE entry_id = %s", [entry.pk])

    with pytest.raises(ApplicationError) as refused, transaction.atomic():  # the request's transaction
        points_redeem(member=member, points=5, idempotency_key="k-short-r", reason="coupon")

    assert (refused.value.code, refused.value.status_code) == ("ledger_mismatch", 500)
    assert PointsAccount.objects.get(member=member).balance == 10
    assert not PointsEntry.objects.filter(idempotency_key="k-short-r").exists()
    assert PointsLot.objects.get(entry_id=entry.pk).remaining == 2


def test_an_hour_of_earnings_keeps_the_invariants(member):
    for i in range(20):
        points_earn(member=member, points=3 + i, idempotency_key=f"k-h-{i}", reason="order")
        if i % 3 == 2:
            points_redeem(member=member, points=7, idempotency_key=f"k-h-r-{i}", reason="coupon")

    assert ledger_invariants_assert(member) > 0
    assert PointsAccount.objects.get(member=member).balance == sum(3 + i for i in range(20)) - 7 * 6


def test_expired_lot_is_taken_after_those_expiring_sooner(member):
    soon = points_earn(
        member=member, points=5, idempotency_key="k-soon", reason="o", expires_at=datetime.now(SHANGHAI) + timedelta(1)
    )
    never = points_earn(member=member, points=5, idempotency_key="k-never", reason="o", expires_at=None)
    PointsPolicy.objects.update_or_create(pk=1, defaults={"expiry_mode": "never", "expiry_months": 12})
    points_earn(member=member, points=5, idempotency_key="k-policy-never", reason="o")

    points_redeem(member=member, points=7, idempotency_key="k-take", reason="coupon")

    assert PointsLot.objects.get(entry_id=soon.pk).remaining == 0
    assert (
        PointsLot.objects.get(entry_id=never.pk).remaining
        + PointsLot.objects.get(entry__idempotency_key="k-policy-never").remaining
        == 8
    )


# `count` lots of 10 points for each of `members`, as that many earnings would leave them (an entry each, its lot,
# the balance), written in turns (lot 1 of each member, then lot 2 of each, ...): a busy brand's lots, where a
# member's lots are spread over the whole table.
_BULK_EARN = """
WITH acc AS (SELECT id, member_id FROM points_pointsaccount WHERE member_id = ANY(%(members)s)),
e AS (
    INSERT INTO points_pointsentry (account_id, member_id, kind, amount, balance_after, idempotency_key, fingerprint,
                                    reference, reason, actor_id, shortfall, created_at)
    SELECT acc.id, acc.member_id, 'earn', 10, 10 + 10 * g, 'k-bulk-' || acc.id || '-' || g, '', '', 'order', NULL, 0,
           now()
    FROM generate_series(1, %(count)s) g CROSS JOIN acc
    ORDER BY g, acc.id
    RETURNING id, account_id, created_at
)
INSERT INTO points_pointslot (account_id, entry_id, amount, remaining, expires_at, created_at)
SELECT account_id, id, 10, 10, NULL, created_at FROM e ORDER BY id;
UPDATE points_pointsaccount SET balance = balance + 10 * %(count)s WHERE member_id = ANY(%(members)s);
"""

_DEBIT_READS = (
    "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
    "SELECT * FROM points_debit(%s, 'redeem', 1, %s, '', '', 'coupon', NULL, now())"
)


def test_a_redemption_reads_its_window_of_lots_not_all_of_them(make_member):
    """points_debit reads at most 32 open lots through points_lot_open, in the index's order (migration 0008), so a
    member with 3,000 open lots costs a redemption what a member with one lot costs. Left to its statistics (taken
    when accounts had about 4 open lots) the planner fetched all of the member's open lots and sorted them, about
    100 buffers against 34 (bench/points.py: a redemption read 6,000 lots to use one)."""
    many, one = make_member(), make_member()
    crowd = [make_member() for _ in range(200)]
    for n, m in enumerate([many, one, *crowd]):  # each has an account and a first lot, expiring by the policy
        points_earn(member=m, points=10, idempotency_key=f"k-first-{n}", reason="order")
    with connection.cursor() as cursor:
        cursor.execute(_BULK_EARN, {"members": [m.pk for m in crowd], "count": 3})
        cursor.execute("ANALYZE points_pointslot")  # about 4 open lots an account
        cursor.execute(_BULK_EARN, {"members": [many.pk], "count": 3000})  # then one member's grow

    def reads(member) -> list[int]:  # buffers read by each of 8 redemptions (5 custom plans, then maybe generic)
        found = []
        with connection.cursor() as cursor:
            for n in range(8):
                cursor.execute(_DEBIT_READS, [member.pk, f"k-window-{member.pk}-{n}"])
                plan = cursor.fetchone()[0][0]["Plan"]
                found.append(plan["Shared Hit Blocks"] + plan["Shared Read Blocks"])
        return found

    with connection.cursor() as cursor:  # warm this session: the function compiled, the catalog cached
        cursor.execute(_DEBIT_READS, [one.pk, "k-warm"])
    measured = reads(many)
    assert max(measured) <= max(reads(one)) + 10, measured
    ledger_invariants_assert(many)


def test_the_debit_keeps_its_plan_settings(alpha):
    """A later CREATE OR REPLACE of points_debit must repeat the SET clauses of migrations 0008 (the window of lots
    read in the index's order) and 0009 (each statement planned once a session, not at every call)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT proconfig FROM pg_proc WHERE proname = 'points_debit'")
        (config,) = cursor.fetchone()
    assert sorted(config) == ["enable_bitmapscan=off", "enable_sort=off", "plan_cache_mode=force_generic_plan"]
