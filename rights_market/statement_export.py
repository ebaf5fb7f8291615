"""A netted statement as CSV, the same file for both brands of the pair: a summary (the pair, both directions,
the net payable amount and who pays it) and then every line behind it. Amounts in yuan with two decimals (the
fen are exact); times in Asia/Shanghai. Nothing about members: an exchange id is the only reference."""

from __future__ import annotations

import csv
import io

from django.utils import timezone

from rights_market.models import ClearingLine, Statement


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def statement_csv(statement: Statement) -> str:
    """The statement and its lines as CSV text (UTF-8 with a BOM when written, so spreadsheet apps read the
    Chinese brand names; the caller adds it)."""
    low, high = statement.brand_low, statement.brand_high
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["statement", statement.pk])
    writer.writerow(["month", f"{statement.month:%Y-%m}"])
    writer.writerow(["brands", f"{low.name} ({low.slug})", f"{high.name} ({high.slug})"])
    writer.writerow([f"{low.name} owes {high.name} (yuan)", _yuan(statement.low_owes_fen)])
    writer.writerow([f"{high.name} owes {low.name} (yuan)", _yuan(statement.high_owes_fen)])
    writer.writerow(
        ["net payable (yuan)", _yuan(statement.total_fen), "payer", statement.payer.name, "payee", statement.payee.name]
    )
    writer.writerow(["lines", statement.line_count, "status", statement.status])
    writer.writerow([])
    writer.writerow(
        [
            "line",
            "exchange",
            "fulfilled_at",
            "line_month",
            "offer",
            "offer_title",
            "payer",
            "payee",
            "amount_yuan",
            "amount_fen",
        ]
    )
    names = {low.pk: low.name, high.pk: high.name}
    lines = ClearingLine.objects.filter(statement=statement).select_related("offer").order_by("id")
    for line in lines.iterator(chunk_size=2000):
        writer.writerow(
            [
                line.pk,
                line.exchange_id,
                timezone.localtime(line.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                f"{line.month:%Y-%m}",
                line.offer_id,
                line.offer.title,
                names[line.payer_id],
                names[line.payee_id],
                _yuan(line.amount_fen),
                line.amount_fen,
            ]
        )
    return out.getvalue()
