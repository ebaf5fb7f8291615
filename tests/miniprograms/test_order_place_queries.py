"""What placing an order costs in statements: a refused one (sold out, a flash sale's usual answer) one read."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from core.errors import Conflict
from miniprograms.models import Order, ShopSku
from miniprograms.selectors import _cart_read
from miniprograms.services.orders import order_place
from tests.miniprograms.conftest import build_world


def shop_cart_entries_sql() -> str:
    return _cart_read.sql


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat, stock=1)


def test_sold_out_is_refused_with_one_read_and_no_transaction(world, brand_a):
    with schema_context(brand_a.schema_name):
        ShopSku.objects.filter(pk=world.entry.pk).update(stock=0)
        with CaptureQueriesContext(connection) as queries, pytest.raises(Conflict) as refused:
            order_place(member=world.alice, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 1}])
        assert refused.value.code == "out_of_stock"
        sqls = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
        assert len(sqls) == 1 and sqls[0].startswith(shop_cart_entries_sql().split("%s")[0])  # the cart read
        assert not Order.objects.exists()


def test_placing_runs_no_lookup_per_foreign_key(world, brand_a):
    with schema_context(brand_a.schema_name):
        with CaptureQueriesContext(connection) as queries:
            order = order_place(member=world.alice, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 1}])
        sqls = [q["sql"] for q in queries if not q["sql"].startswith("SET search_path")]
        assert not [s for s in sqls if s.startswith('SELECT 1 AS "a"')]  # no FK or unique look-ups
        assert len(sqls) <= 9, sqls
        assert (order.total_fen, ShopSku.objects.get(pk=world.entry.pk).stock) == (1000, 0)


def _statement_kind(sql: str) -> str:
    words = sql.split()
    if words[0] in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return " ".join(w for w in words if not w.startswith('"'))
    return " ".join(words[:3] if words[0] == "INSERT" else words[:2])


def test_the_stock_row_is_locked_by_the_last_statement_before_commit(world, brand_a):
    """The SKU's row lock (the conditional UPDATE) is what a flash sale's buyers queue on: it is taken after every
    INSERT of the order, so it is held for the UPDATE and the COMMIT only. Pins the statements of an order."""
    with schema_context(brand_a.schema_name):
        with CaptureQueriesContext(connection) as queries:
            order_place(member=world.alice, shop=world.shop, items=[{"sku_id": world.sku.pk, "quantity": 1}])
    kinds = [_statement_kind(q["sql"]) for q in queries if not q["sql"].startswith("SET search_path")]
    assert kinds == [
        'SELECT e."id",',  # the cart (selectors.shop_cart_entries), before any transaction
        'SELECT g."id",',  # the guide the order is attributed to (selectors.guide_attributed), also before
        "SAVEPOINT",  # (the test's transaction stands in for the BEGIN)
        "WITH p",  # the order, its lines and its first event, in one statement (core.sql_writes)
        'UPDATE "miniprograms_shopsku"',  # the stock, last
        "RELEASE SAVEPOINT",
    ], kinds


def test_the_placed_order_is_answered_as_it_reads_back_without_reading_it_again(world, brand_a, member_client):
    alice = member_client(world, world.alice)
    with schema_context(brand_a.schema_name):
        ShopSku.objects.filter(pk=world.entry.pk).update(stock=5)
    body = {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 2}]}
    statements: list[str] = []

    def record(execute, sql, params, many, context):  # the test client's request resets the query log
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        placed = alice.post("/api/v1/mp/orders", body, format="json")
    assert placed.status_code == 201
    read_back = alice.get(f"/api/v1/mp/orders/{placed.json()['id']}")
    assert placed.json() == read_back.json()
    assert [(ln["sku_id"], ln["quantity"], ln["total_fen"]) for ln in placed.json()["lines"]] == [
        (world.sku.pk, 2, 2000)
    ]
    assert [e["status"] for e in placed.json()["events"]] == ["placed"] and placed.json()["refunds"] == []
    reads_of_lines = [sql for sql in statements if sql.startswith('SELECT "miniprograms_orderline"')]
    assert reads_of_lines == []  # answered from what was written
