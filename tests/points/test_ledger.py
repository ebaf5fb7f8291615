"""The ledger services: earn, redeem, adjust, reverse, expire; idempotency; append-only rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from core.errors import ApplicationError, Conflict
from points.models import PointsAccount, PointsEntry, PointsLot, PointsLotUse
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


def test_earn_credits_balance_entry_and_lot(member):
    entry = points_earn(member=member, points=120, idempotency_key="k-earn-1", reason="order", reference="o-1")

    assert entry.pk and entry.amount == 120 and entry.balance_after == 120 and entry.replayed is False
    assert PointsAccount.objects.get(member=member).balance == 120
    lot = PointsLot.objects.get(entry_id=entry.pk)
    assert (lot.amount, lot.remaining) == (120, 120)
    assert lot.expires_at is not None  # the default policy: 12 months
    ledger_invariants_assert(member)


def test_retried_earn_with_same_key_changes_nothing(member):
    first = points_earn(member=member, points=50, idempotency_key="k-retry", reason="order", reference="o-2")

    again = points_earn(member=member, points=50, idempotency_key="k-retry", reason="order", reference="o-2")

    assert again.pk == first.pk and again.replayed is True
    assert PointsAccount.objects.get(member=member).balance == 50
    assert PointsEntry.objects.filter(member=member).count() == 1
    assert PointsLot.objects.filter(account__member=member).count() == 1


def test_retried_redeem_returns_first_result_even_when_balance_is_now_short(member):
    points_earn(member=member, points=30, idempotency_key="k-e", reason="order")
    first = points_redeem(member=member, points=30, idempotency_key="k-r", reason="coupon")

    again = points_redeem(member=member, points=30, idempotency_key="k-r", reason="coupon")

    assert again.pk == first.pk and again.replayed is True
    assert PointsAccount.objects.get(member=member).balance == 0
    assert PointsEntry.objects.filter(member=member, kind="redeem").count() == 1
    ledger_invariants_assert(member)


@pytest.mark.parametrize("change", [{"points": 51}, {"reason": "other"}, {"reference": "o-9"}])
def test_same_key_with_other_parameters_is_a_conflict(member, change):
    points_earn(member=member, points=50, idempotency_key="k-fp", reason="order", reference="o-3")

    with pytest.raises(Conflict) as caught:
        points_earn(
            member=member, idempotency_key="k-fp", **{"points": 50, "reason": "order", "reference": "o-3", **change}
        )

    assert caught.value.status_code == 409 and caught.value.code == "idempotency_key_reused"
    assert PointsAccount.objects.get(member=member).balance == 50


def test_same_key_for_another_member_is_a_conflict(make_member):
    alice, bob = make_member(), make_member()
    points_earn(member=alice, points=10, idempotency_key="k-shared", reason="order")

    with pytest.raises(Conflict):
        points_earn(member=bob, points=10, idempotency_key="k-shared", reason="order")

    assert not PointsAccount.objects.filter(member=bob, balance__gt=0).exists()


def test_same_key_across_operations_is_a_conflict(member):
    points_earn(member=member, points=10, idempotency_key="k-op", reason="order")

    with pytest.raises(Conflict):
        points_redeem(member=member, points=10, idempotency_key="k-op", reason="order")

    assert PointsAccount.objects.get(member=member).balance == 10


def test_redeem_more_than_balance_is_refused_and_writes_nothing(member):
    points_earn(member=member, points=10, idempotency_key="k-e1", reason="order")

    with pytest.raises(InsufficientPoints) as caught:
        points_redeem(member=member, points=11, idempotency_key="k-r1", reason="coupon")

    assert caught.value.status_code == 409
    assert PointsAccount.objects.get(member=member).balance == 10
    assert not PointsEntry.objects.filter(idempotency_key="k-r1").exists()


def test_redeem_without_account_is_insufficient(member):
    with pytest.raises(InsufficientPoints):
        points_redeem(member=member, points=1, idempotency_key="k-none", reason="coupon")


def test_redeem_consumes_the_earliest_expiring_lots_first(member):
    now = timezone.now()
    late = points_earn(member=member, points=10, idempotency_key="k-late", reason="a", expires_at=now + 90 * DAY)
    never = points_earn(member=member, points=10, idempotency_key="k-never", reason="a")
    PointsLot.objects.filter(entry_id=never.pk).update(expires_at=None)
    soon = points_earn(member=member, points=10, idempotency_key="k-soon", reason="a", expires_at=now + 5 * DAY)

    redeem = points_redeem(member=member, points=15, idempotency_key="k-r15", reason="coupon")

    remaining = {lot.entry_id: lot.remaining for lot in PointsLot.objects.filter(account__member=member)}
    assert remaining == {soon.pk: 0, late.pk: 5, never.pk: 10}
    uses = sorted(PointsLotUse.objects.filter(entry_id=redeem.pk).values_list("lot__entry_id", "amount"))
    assert uses == sorted([(soon.pk, 10), (late.pk, 5)])
    ledger_invariants_assert(member)


@pytest.mark.parametrize("points", [0, -5, 1.5, "10", True, 10**12])
def test_invalid_points_are_refused(member, points):
    with pytest.raises(ApplicationError) as caught:
        points_earn(member=member, points=points, idempotency_key="k-bad", reason="x")
    assert caught.value.code == "invalid_points"
    assert not PointsEntry.objects.exists() or not PointsEntry.objects.filter(idempotency_key="k-bad").exists()


def test_too_long_key_is_a_validation_error(member):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        points_earn(member=member, points=1, idempotency_key="k" * 129, reason="x")


def test_adjust_records_actor_and_reason_and_debits_never_below_zero(member, hq_user):
    credit = points_adjust(member=member, points=40, idempotency_key="k-adj1", actor=hq_user, reason="goodwill")
    debit = points_adjust(member=member, points=-15, idempotency_key="k-adj2", actor=hq_user, reason="mistake")

    with pytest.raises(InsufficientPoints):
        points_adjust(member=member, points=-26, idempotency_key="k-adj3", actor=hq_user, reason="too much")

    stored = PointsEntry.objects.get(pk=debit.pk)
    assert (stored.kind, stored.amount, stored.actor_id, stored.reason) == ("adjust", -15, hq_user.pk, "mistake")
    assert stored.created_at is not None
    assert PointsLot.objects.get(entry_id=credit.pk).remaining == 25
    assert ledger_invariants_assert(member) == 25


def test_adjust_needs_a_reason(member, hq_user):
    with pytest.raises(ApplicationError) as caught:
        points_adjust(member=member, points=5, idempotency_key="k-adj", actor=hq_user, reason="  ")
    assert caught.value.code == "reason_required"


def test_reverse_takes_back_what_the_order_earned(member):
    points_earn(member=member, points=100, idempotency_key="order:1:earn", reason="order", reference="1")
    points_earn(member=member, points=30, idempotency_key="order:2:earn", reason="order", reference="2")

    entry = points_reverse_for_reference(member=member, reference="1", idempotency_key="refund:1", reason="refund")

    assert (entry.amount, entry.shortfall) == (-100, 0)
    assert ledger_invariants_assert(member) == 30


def test_reverse_after_spending_records_shortfall_instead_of_going_negative(member):
    points_earn(member=member, points=100, idempotency_key="order:1:earn", reason="order", reference="1")
    points_redeem(member=member, points=80, idempotency_key="r-1", reason="coupon")

    entry = points_reverse_for_reference(member=member, reference="1", idempotency_key="refund:1", reason="refund")

    assert (entry.amount, entry.shortfall, entry.balance_after) == (-20, 80, 0)
    assert ledger_invariants_assert(member) == 0


def test_reverse_does_not_touch_other_orders_lots(member):
    points_earn(member=member, points=100, idempotency_key="order:1:earn", reason="order", reference="1")
    points_earn(
        member=member,
        points=500,
        idempotency_key="order:2:earn",
        reason="order",
        reference="2",
        expires_at=timezone.now() + 400 * DAY,
    )
    points_redeem(member=member, points=100, idempotency_key="r-1", reason="coupon")  # takes order 1's lot

    entry = points_reverse_for_reference(member=member, reference="1", idempotency_key="refund:1", reason="refund")

    assert (entry.amount, entry.shortfall) == (0, 100)
    assert ledger_invariants_assert(member) == 500


def test_partial_reverses_add_up_to_at_most_what_was_earned(member):
    points_earn(member=member, points=100, idempotency_key="order:1:earn", reason="order", reference="1")

    first = points_reverse_for_reference(member=member, reference="1", idempotency_key="rf:a", reason="r", points=60)
    second = points_reverse_for_reference(member=member, reference="1", idempotency_key="rf:b", reason="r", points=60)
    third = points_reverse_for_reference(member=member, reference="1", idempotency_key="rf:c", reason="r")

    assert (first.amount, second.amount, third) == (-60, -40, None)
    assert ledger_invariants_assert(member) == 0


def test_retried_reverse_changes_nothing(member):
    points_earn(member=member, points=100, idempotency_key="order:1:earn", reason="order", reference="1")
    first = points_reverse_for_reference(member=member, reference="1", idempotency_key="refund:1", reason="refund")

    again = points_reverse_for_reference(member=member, reference="1", idempotency_key="refund:1", reason="refund")

    assert again.pk == first.pk and again.replayed is True
    assert PointsEntry.objects.filter(kind="reverse").count() == 1


def test_reverse_of_unknown_reference_is_none(member):
    points_earn(member=member, points=5, idempotency_key="k", reason="order", reference="1")
    assert points_reverse_for_reference(member=member, reference="nope", idempotency_key="rf", reason="r") is None


def test_expire_due_expires_only_due_lots_once(member):
    now = timezone.now()
    points_earn(member=member, points=10, idempotency_key="k-1", reason="a", expires_at=now - DAY)
    points_earn(member=member, points=20, idempotency_key="k-2", reason="a", expires_at=now + DAY)
    points_redeem(member=member, points=4, idempotency_key="k-r", reason="a")  # takes 4 of the due lot

    assert points_expire_due(now=now) == 1
    assert points_expire_due(now=now) == 0

    expire = PointsEntry.objects.get(member=member, kind="expire")
    assert expire.amount == -6
    assert ledger_invariants_assert(member) == 20


def test_entries_cannot_be_updated_or_deleted_even_with_raw_sql(member):
    entry = points_earn(member=member, points=10, idempotency_key="k-immutable", reason="a")

    for sql in (
        "UPDATE points_pointsentry SET amount = 1000 WHERE id = %s",
        "DELETE FROM points_pointsentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [entry.pk])

    assert PointsEntry.objects.get(pk=entry.pk).amount == 10


def test_balance_cannot_go_negative_even_with_raw_sql(member):
    points_earn(member=member, points=10, idempotency_key="k-neg", reason="a")

    with pytest.raises(DatabaseError), transaction.atomic():
        PointsAccount.objects.filter(member=member).update(balance=-1)


def test_card_sync_is_queued_after_commit(member, monkeypatch, django_capture_on_commit_callbacks):
    from core.redis_client import redis_client as _redis
    from core.tasks import coalesce_key
    from members.models import Member
    from members.services.cards import CARD_SYNC
    from members.tasks import member_card_update

    Member.objects.filter(pk=member.pk).update(card_state=Member.CardState.ACTIVATED, card_code="C-1")
    member.refresh_from_db()
    _redis().delete(coalesce_key(connection.schema_name, CARD_SYNC, member.pk))
    sent = []
    monkeypatch.setattr(member_card_update, "apply_async", lambda args=None, **kw: sent.append(args))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        points_earn(member=member, points=10, idempotency_key="k-card", reason="a")
    assert sent == []  # not before commit
    for callback in callbacks:
        callback()
    assert sent == [[member.pk]]
    _redis().delete(coalesce_key(connection.schema_name, CARD_SYNC, member.pk))


def test_redeem_across_many_small_lots(member):
    for i in range(48):
        points_earn(member=member, points=1, idempotency_key=f"k-small-{i}", reason="a")

    entry = points_redeem(member=member, points=45, idempotency_key="k-many", reason="coupon")

    assert PointsLotUse.objects.filter(entry_id=entry.pk).count() == 45
    assert ledger_invariants_assert(member) == 3
