"""Settlement: clearing lines (written when an exchange is fulfilled) gathered, once a month, into one netted
statement per brand pair; each side confirms; ops marks paid.

Promises:
- Closing month M gives each brand pair with unsettled lines of M or earlier one statement for M: what the
  lower-id brand owes the higher and the reverse, netted into one payable amount (Statement.total_fen, from
  `payer` to `payee`), with the lines behind it.
- A pair's month is closed once. Closing M again changes nothing for pairs already closed; a line of M that
  arrives after its pair's M was closed (a fulfilment committing late) is left for the pair's next closing,
  where it is netted with that month's lines.
- Each pair is closed in its own short transaction holding the pair's statement row, so a crash half-way
  leaves whole pairs done and the next run finishes the rest.
"""
from __future__ import annotations

from datetime import date, timedelta

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core.errors import ApplicationError, Conflict, NotFound
from rights_market.models import ClearingLine, Statement


def last_month() -> date:
    """The first day of last month (Asia/Shanghai)."""
    return (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)


_PAIRS_SQL = f"""
    SELECT DISTINCT LEAST(payer_id, payee_id), GREATEST(payer_id, payee_id)
    FROM {ClearingLine._meta.db_table}
    WHERE statement_id IS NULL AND month <= %(month)s
    ORDER BY 1, 2
"""

# Attach the pair's unsettled lines (of the month or before) and return the two directions' sums and count.
_ATTACH_SQL = f"""
    WITH attached AS (
        UPDATE {ClearingLine._meta.db_table} SET statement_id = %(statement)s
        WHERE statement_id IS NULL AND month <= %(month)s
          AND ((payer_id = %(low)s AND payee_id = %(high)s) OR (payer_id = %(high)s AND payee_id = %(low)s))
        RETURNING payer_id, amount_fen
    )
    SELECT COALESCE(SUM(amount_fen) FILTER (WHERE payer_id = %(low)s), 0),
           COALESCE(SUM(amount_fen) FILTER (WHERE payer_id = %(high)s), 0), COUNT(*)
    FROM attached
"""


def statements_close_month(*, month: date | None) -> list[Statement]:
    """Close `month` (default: last month) for every brand pair with unsettled lines of that month or before.
    Returns the statements made by this run (none for pairs closed before)."""
    month = (month or last_month()).replace(day=1)
    with connection.cursor() as cursor:
        cursor.execute(_PAIRS_SQL, {"month": month})
        pairs = cursor.fetchall()
    closed = set(Statement.objects.filter(month=month).values_list("brand_low_id", "brand_high_id"))
    out = []
    for low, high in pairs:
        if (low, high) in closed:
            continue  # closed before: its late lines wait for the next month
        statement = _pair_close(low=low, high=high, month=month)
        if statement is not None:
            out.append(statement)
    return out


def _pair_close(*, low: int, high: int, month: date) -> Statement | None:
    try:
        with transaction.atomic():
            statement = Statement.objects.create(brand_low_id=low, brand_high_id=high, payer_id=low, payee_id=high,
                                                 month=month)
            with connection.cursor() as cursor:
                cursor.execute(_ATTACH_SQL, {"statement": statement.pk, "month": month, "low": low, "high": high})
                low_owes, high_owes, count = cursor.fetchone()
            statement.low_owes_fen, statement.high_owes_fen, statement.line_count = low_owes, high_owes, count
            if high_owes > low_owes:
                statement.payer_id, statement.payee_id = high, low
            statement.total_fen = abs(low_owes - high_owes)
            statement.full_clean(validate_unique=False)
            statement.save(update_fields=["low_owes_fen", "high_owes_fen", "line_count", "payer", "payee",
                                          "total_fen"])
    except IntegrityError:  # another run closed this pair's month at the same moment
        if Statement.objects.filter(brand_low_id=low, brand_high_id=high, month=month).exists():
            return None
        raise
    return statement


def statement_for_brand(*, brand, statement_id: int) -> Statement:
    """The statement, if `brand` is one of its pair; anyone else is told there is no such statement."""
    statement = Statement.objects.select_related("brand_low", "brand_high", "payer", "payee") \
        .filter(pk=statement_id).first()
    if statement is None or brand.pk not in (statement.brand_low_id, statement.brand_high_id):
        raise NotFound("No such statement.", code="statement_not_found")
    return statement


def statement_confirm(*, brand, statement_id: int) -> Statement:
    """`brand` (either side of the pair) confirms the statement; once both have, it is confirmed."""
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
        statement.full_clean(validate_unique=False)
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
        statement.full_clean(validate_unique=False)
        statement.save(update_fields=["status", "paid_at"])
    return statement
