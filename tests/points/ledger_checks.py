"""The ledger's invariants, as the tests check them against the database."""
from __future__ import annotations

from django.db.models import Sum

from points.models import PointsAccount, PointsEntry, PointsLot, PointsLotUse


def ledger_invariants_assert(member) -> int:
    """balance >= 0, balance == sum(entries) == sum(lot remaining), each debit's lot uses == its amount."""
    account = PointsAccount.objects.filter(member=member).first()
    balance = account.balance if account else 0
    entries = PointsEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0
    lots = PointsLot.objects.filter(account__member=member).aggregate(s=Sum("remaining"))["s"] or 0
    assert balance >= 0
    assert balance == entries, (balance, entries)
    assert balance == lots, (balance, lots)
    for entry in PointsEntry.objects.filter(member=member, amount__lt=0):
        used = PointsLotUse.objects.filter(entry=entry).aggregate(s=Sum("amount"))["s"] or 0
        assert used == -entry.amount, (entry.kind, entry.amount, used)
    last = PointsEntry.objects.filter(member=member).order_by("-id").first()
    if last is not None:
        assert last.balance_after == balance
    return balance
