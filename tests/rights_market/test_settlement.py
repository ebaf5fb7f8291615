"""Monthly settlement: one netted statement per brand pair, closed once; late lines go to the next month; only
the pair's two brands see (and download) it."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest
from django.db import connection

from core.errors import NotFound
from rights_market.models import ClearingLine, Statement
from rights_market.services.exchanges import exchange_advance
from rights_market.services.settlement import statement_for_brand, statements_close_month
from tests.conftest import BRAND_PASSWORD
from tests.rights_market.factories import all_rows, exchange_requested, listing_make, member_make, offer_make

OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


def fulfil(issuer, acceptor, *, price_fen: int, month: date, n: int = 1) -> list[ClearingLine]:
    """`n` exchanges of an offer of `issuer` by members of `acceptor`, their lines dated in `month`."""
    listing = listing_make(acceptor, offer_make(issuer, settlement_price_fen=price_fen, stock=n), points_price=10)
    lines = []
    for _ in range(n):
        exchange = exchange_requested(acceptor, member_make(acceptor, points=10), listing)
        exchange_advance(exchange_id=exchange.pk)
        line = ClearingLine.objects.get(exchange=exchange)
        ClearingLine.objects.filter(pk=line.pk).update(month=month)
        lines.append(line)
    return lines


@pytest.fixture
def gamma(db):
    from tenants.models import Brand

    return Brand.objects.create(slug="gamma", name="Gamma", schema_name="gamma")  # a public row is enough


def test_a_pair_nets_both_directions_into_one_payable_amount(brand_a, brand_b):
    fulfil(brand_a, brand_b, price_fen=300, month=NOV, n=3)  # beta owes alpha 900
    fulfil(brand_b, brand_a, price_fen=250, month=NOV, n=2)  # alpha owes beta 500
    [statement] = statements_close_month(month=NOV)
    low, high = sorted([brand_a, brand_b], key=lambda b: b.pk)
    owes = {brand_b.pk: 900, brand_a.pk: 500}
    assert (statement.brand_low_id, statement.brand_high_id) == (low.pk, high.pk)
    assert (statement.low_owes_fen, statement.high_owes_fen) == (owes[low.pk], owes[high.pk])
    assert (statement.payer_id, statement.payee_id, statement.total_fen, statement.line_count) == (
        brand_b.pk,
        brand_a.pk,
        400,
        5,
    )
    assert ClearingLine.objects.filter(statement=statement).count() == 5


def test_closing_a_month_twice_changes_nothing(brand_a, brand_b):
    fulfil(brand_a, brand_b, price_fen=300, month=NOV, n=2)
    [first] = statements_close_month(month=NOV)
    assert statements_close_month(month=NOV) == []
    assert Statement.objects.count() == 1
    first.refresh_from_db()
    assert (first.total_fen, first.line_count) == (600, 2)


def test_a_late_line_for_a_closed_month_goes_into_the_next_one(brand_a, brand_b):
    fulfil(brand_a, brand_b, price_fen=300, month=OCT)
    [october] = statements_close_month(month=OCT)
    [late] = fulfil(brand_a, brand_b, price_fen=300, month=OCT)  # committed after October was closed
    fulfil(brand_b, brand_a, price_fen=100, month=NOV)
    assert statements_close_month(month=OCT) == []  # October stays as it was closed
    october.refresh_from_db()
    assert (october.total_fen, october.line_count) == (300, 1)
    [november] = statements_close_month(month=NOV)
    assert (november.payer_id, november.total_fen, november.line_count) == (brand_b.pk, 200, 2)
    late.refresh_from_db()
    assert (late.month, late.statement_id) == (OCT, november.pk)
    assert ClearingLine.objects.filter(statement__isnull=True).count() == 0


def test_lines_of_a_later_month_wait_for_their_month(brand_a, brand_b):
    fulfil(brand_a, brand_b, price_fen=300, month=DEC)
    assert statements_close_month(month=NOV) == []
    assert ClearingLine.objects.filter(statement__isnull=True).count() == 1


def test_a_third_brand_cannot_read_the_pairs_statement(brand_a, brand_b, gamma, client_for):
    fulfil(brand_a, brand_b, price_fen=300, month=NOV, n=2)
    fulfil(brand_b, brand_a, price_fen=100, month=NOV)
    [statement] = statements_close_month(month=NOV)
    with pytest.raises(NotFound):
        statement_for_brand(brand=gamma, statement_id=statement.pk)
    assert statement_for_brand(brand=brand_a, statement_id=statement.pk).pk == statement.pk
    connection.set_schema_to_public()

    files = {}
    for brand in (brand_a, brand_b):
        response = (
            client_for(brand)
            .as_staff(f"{brand.slug}-hq", BRAND_PASSWORD)
            .get(f"/api/v1/market/statements/{statement.pk}.csv")
        )
        assert response.status_code == 200, response.content
        assert response["Content-Type"].startswith("text/csv")
        files[brand.slug] = response.content.decode("utf-8-sig")
    assert files["alpha"] == files["beta"]  # one statement, the same file for both sides
    rows = list(csv.reader(io.StringIO(files["alpha"])))
    summary = {row[0]: row[1:] for row in rows[:7]}
    assert summary["net payable (yuan)"] == ["5.00", "payer", "Beta", "payee", "Alpha"]
    header = rows.index(
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
    lines = rows[header + 1 :]
    assert sorted((r[6], r[7], r[9]) for r in lines) == [
        ("Alpha", "Beta", "100"),
        ("Beta", "Alpha", "300"),
        ("Beta", "Alpha", "300"),
    ]

    # a statement of another pair is not found from alpha's host (nor is it listed there)
    other = Statement.objects.create(
        brand_low_id=min(brand_b.pk, gamma.pk),
        brand_high_id=max(brand_b.pk, gamma.pk),
        payer_id=min(brand_b.pk, gamma.pk),
        payee_id=max(brand_b.pk, gamma.pk),
        month=NOV,
    )
    hq = client_for(brand_a).as_staff("alpha-hq", BRAND_PASSWORD)
    refused = hq.get(f"/api/v1/market/statements/{other.pk}.csv")
    assert (refused.status_code, refused.json()["error"]["code"]) == (404, "statement_not_found")
    assert other.pk not in [s["id"] for s in all_rows(hq, "/api/v1/market/statements")]
    assert hq.post(f"/api/v1/market/statements/{other.pk}/confirm").status_code == 404
