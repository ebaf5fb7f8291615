"""Settlement: clearing lines (written when an exchange is fulfilled) gathered into monthly statements per brand
pair; each side confirms; ops marks paid."""
from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from core.errors import ApplicationError, Conflict, NotFound
from rights_market.models import ClearingLine, Statement


def last_month() -> date:
    """The first day of last month (Asia/Shanghai)."""
    return (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)


def statements_close_month(*, month: date | None) -> list[Statement]:
    """Gather the month's unattached clearing lines into one statement per (payer, payee). Safe to run again:
    lines already on a statement are left; late lines are added to the still-open statement."""
    month = (month or last_month()).replace(day=1)
    out = []
    pairs = ClearingLine.objects.filter(month=month, statement__isnull=True) \
        .values_list("payer_id", "payee_id").distinct().order_by("payer_id", "payee_id")
    for payer_id, payee_id in list(pairs):
        with transaction.atomic():
            statement, _ = Statement.objects.select_for_update().get_or_create(
                payer_id=payer_id, payee_id=payee_id, month=month)
            if statement.status != Statement.Status.OPEN:
                continue  # confirmed statements do not change; late lines wait for ops
            ClearingLine.objects.filter(month=month, payer_id=payer_id, payee_id=payee_id,
                                        statement__isnull=True).update(statement=statement)
            totals = statement.lines.aggregate(total=Sum("amount_fen"), n=Count("id"))
            statement.total_fen = totals["total"] or 0
            statement.line_count = totals["n"]
            statement.full_clean()
            statement.save(update_fields=["total_fen", "line_count"])
        out.append(statement)
    return out


def statement_confirm(*, brand, statement_id: int) -> Statement:
    """`brand` (payer or payee) confirms the statement; once both have, it is confirmed."""
    with transaction.atomic():
        statement = Statement.objects.select_for_update().filter(pk=statement_id).first()
        if statement is None or brand.pk not in (statement.payer_id, statement.payee_id):
            raise NotFound("No such statement.", code="statement_not_found")
        if statement.status == Statement.Status.PAID:
            raise Conflict("This statement is paid.", code="invalid_transition")
        now = timezone.now()
        if brand.pk == statement.payer_id and statement.payer_confirmed_at is None:
            statement.payer_confirmed_at = now
        if brand.pk == statement.payee_id and statement.payee_confirmed_at is None:
            statement.payee_confirmed_at = now
        if statement.payer_confirmed_at and statement.payee_confirmed_at:
            statement.status = Statement.Status.CONFIRMED
        statement.full_clean()
        statement.save(update_fields=["payer_confirmed_at", "payee_confirmed_at", "status"])
    return statement


def statement_mark_paid(*, statement_id: int) -> Statement:
    """Ops: the payer has paid a statement both sides confirmed."""
    with transaction.atomic():
        statement = Statement.objects.select_for_update().filter(pk=statement_id).first()
        if statement is None:
            raise NotFound("No such statement.", code="statement_not_found")
        if statement.status != Statement.Status.CONFIRMED:
            raise ApplicationError("Only a statement confirmed by both brands can be paid.",
                                   code="invalid_transition", status_code=409)
        statement.status = Statement.Status.PAID
        statement.paid_at = timezone.now()
        statement.full_clean()
        statement.save(update_fields=["status", "paid_at"])
    return statement
