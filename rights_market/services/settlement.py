"""Settlement: clearing lines (written when an exchange is fulfilled) gathered, once a month, into one netted
statement per brand pair; each side confirms; ops marks paid.

Promises:
- Closing month M gives each brand pair with unsettled lines of M or earlier one statement for M: what the
  lower-id brand owes the higher and the reverse, netted into one payable amount (Statement.total_fen, from
  `payer` to `payee`), with the lines behind it.
- A pair's month is closed once. Closing M again changes nothing for pairs already closed; a line of M that
  arrives after its pair's M was closed (a fulfilment committing late) is left for the pair's next closing,
  where it is netted with that month's lines.
- Pairs are closed in batches, each one SQL statement (one snapshot: the lines summed are the lines
  attached) in its own short transaction, so a crash half-way leaves whole pairs done and the next run finishes
  the rest; two runs at once close each pair once (the statement's UNIQUE pair and month).
"""

from __future__ import annotations

from datetime import date, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError, Conflict, NotFound
from rights_market.models import ClearingLine, Statement


def last_month() -> date:
    """The first day of last month (Asia/Shanghai)."""
    return (timezone.localdate().replace(day=1) - timedelta(days=1)).replace(day=1)


LINE = ClearingLine._meta.db_table
STATEMENT = Statement._meta.db_table
PAIRS_PER_TRANSACTION = 500

_PAIRS_SQL = f"""
    SELECT DISTINCT LEAST(payer_id, payee_id), GREATEST(payer_id, payee_id)
    FROM {LINE}
    WHERE statement_id IS NULL AND month <= %(month)s
    ORDER BY 1, 2
"""

# One statement, one snapshot: the pairs' unsettled lines (of the month or before) are summed per direction, a
# statement is inserted per pair not closed yet for the month (ON CONFLICT: closed before, its lines wait), and
# exactly the lines summed are attached to it.
_CLOSE_SQL = f"""
    WITH pairs AS (
        SELECT * FROM unnest(%(lows)s::bigint[], %(highs)s::bigint[]) AS p(low, high)
    ), agg AS (
        SELECT LEAST(l.payer_id, l.payee_id) AS low, GREATEST(l.payer_id, l.payee_id) AS high,
               COALESCE(SUM(l.amount_fen) FILTER (WHERE l.payer_id < l.payee_id), 0) AS low_owes,
               COALESCE(SUM(l.amount_fen) FILTER (WHERE l.payer_id > l.payee_id), 0) AS high_owes,
               COUNT(*) AS n, array_agg(l.id) AS ids
        FROM {LINE} l JOIN pairs ON LEAST(l.payer_id, l.payee_id) = pairs.low
                                AND GREATEST(l.payer_id, l.payee_id) = pairs.high
        WHERE l.statement_id IS NULL AND l.month <= %(month)s
        GROUP BY 1, 2
    ), made AS (
        INSERT INTO {STATEMENT} (brand_low_id, brand_high_id, low_owes_fen, high_owes_fen, payer_id, payee_id,
                                 month, total_fen, line_count, status, created_at)
        SELECT low, high, low_owes, high_owes,
               CASE WHEN high_owes > low_owes THEN high ELSE low END,
               CASE WHEN high_owes > low_owes THEN low ELSE high END,
               %(month)s, ABS(low_owes - high_owes), n, 'open', %(now)s
        FROM agg ORDER BY agg.low, agg.high
        ON CONFLICT (brand_low_id, brand_high_id, month) DO NOTHING
        RETURNING id, brand_low_id, brand_high_id
    ), attached AS (
        UPDATE {LINE} l SET statement_id = x.statement_id
        FROM (SELECT made.id AS statement_id, unnest(agg.ids) AS line_id
              FROM made JOIN agg ON agg.low = made.brand_low_id AND agg.high = made.brand_high_id) x
        WHERE l.id = x.line_id
        RETURNING l.id
    )
    SELECT (SELECT array_agg(id) FROM made), (SELECT COUNT(*) FROM attached)
"""


def statements_close_month(*, month: date | None) -> list[Statement]:
    """Close `month` (default: last month) for every brand pair with unsettled lines of that month or before.
    Returns the statements made by this run (none for pairs closed before). Pairs are closed a few hundred at
    a time, each batch in one statement and one short transaction."""
    month = (month or last_month()).replace(day=1)
    with connection.cursor() as cursor:
        cursor.execute(_PAIRS_SQL, {"month": month})
        pairs = cursor.fetchall()
    made: list[int] = []
    for start in range(0, len(pairs), PAIRS_PER_TRANSACTION):
        batch = pairs[start : start + PAIRS_PER_TRANSACTION]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _CLOSE_SQL,
                {"lows": [p[0] for p in batch], "highs": [p[1] for p in batch], "month": month, "now": timezone.now()},
            )
            made.extend(cursor.fetchone()[0] or [])
    return list(Statement.objects.filter(pk__in=made).order_by("brand_low_id", "brand_high_id"))


def statement_for_brand(*, brand, statement_id: int) -> Statement:
    """The statement, if `brand` is one of its pair; anyone else is told there is no such statement."""
    statement = (
        Statement.objects.select_related("brand_low", "brand_high", "payer", "payee").filter(pk=statement_id).first()
    )
    if statement is None or brand.pk not in (statement.brand_low_id, statement.brand_high_id):
        raise NotFound(_("No such statement."), code="statement_not_found")
    return statement


def statement_confirm(*, brand, statement_id: int) -> Statement:
    """`brand` (either side of the pair) confirms the statement; once both have, it is confirmed."""
    with transaction.atomic():
        statement = Statement.objects.select_for_update().filter(pk=statement_id).first()
        if statement is None or brand.pk not in (statement.payer_id, statement.payee_id):
            raise NotFound(_("No such statement."), code="statement_not_found")
        if statement.status == Statement.Status.PAID:
            raise Conflict(_("This statement is paid."), code="invalid_transition")
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
            raise NotFound(_("No such statement."), code="statement_not_found")
        if statement.status != Statement.Status.CONFIRMED:
            raise ApplicationError(
                _("Only a statement confirmed by both brands can be paid."), code="invalid_transition", status_code=409
            )
        statement.status = Statement.Status.PAID
        statement.paid_at = timezone.now()
        statement.full_clean(validate_unique=False)
        statement.save(update_fields=["status", "paid_at"])
    return statement
