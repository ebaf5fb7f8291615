"""The ledger's invariants, as the tests check them against the database."""

from __future__ import annotations

from django.db.models import Sum

from points.models import PointsAccount, PointsEntry, PointsLot


def ledger_invariants_assert(member) -> int:
    """balance >= 0, balance == sum(entries) == sum(lot remaining), the last entry's balance_after == balance,
    and every debit's lot uses add up to its amount. Returns the balance."""
    account = PointsAccount.objects.filter(member=member).first()
    balance = account.balance if account else 0
    entries = PointsEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0
    lots = PointsLot.objects.filter(account__member=member).aggregate(s=Sum("remaining"))["s"] or 0
    assert balance >= 0
    assert balance == entries, (balance, entries)
    assert balance == lots, (balance, lots)
    debits = PointsEntry.objects.filter(member=member, amount__lt=0).annotate(used=Sum("lot_uses__amount"))
    for entry in debits:
        assert entry.used == -entry.amount, (entry.kind, entry.amount, entry.used)
    earned = dict(
        PointsEntry.objects.filter(member=member, kind="earn")
        .exclude(reference="")
        .values_list("reference")
        .annotate(s=Sum("amount"))
    )
    reversed_ = (
        PointsEntry.objects.filter(member=member, kind="reverse")
        .values_list("reference")
        .annotate(s=Sum("shortfall") - Sum("amount"))
    )
    for reference, total in reversed_:
        assert 0 < total <= earned.get(reference, 0), (reference, total, earned.get(reference))
    last = PointsEntry.objects.filter(member=member).order_by("-id").first()
    if last is not None:
        assert last.balance_after == balance
    return balance
