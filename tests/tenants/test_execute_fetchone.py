"""core.db_backend's execute_fetchone: the points ledger's thin call path. It runs a statement on a driver cursor
only where Django's own cursor would have sent no `SET search_path` either, and otherwise keeps what the cursor
wrapper does (query logging, execute wrappers, the broken-transaction refusal, Django's error classes). One
connection, committed data, as a web thread has it."""

from __future__ import annotations

import psycopg2
import pytest
from django.db import DataError, OperationalError, connection, connections, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from core.db_backend.base import Prepared
from members.models import Member


@pytest.fixture
def two_brands(new_brand):
    a, b = new_brand("xfa", with_app=False), new_brand("xfb", with_app=False)
    for brand, openid in ((a, "o-in-a"), (b, "o-in-b")):
        connection.set_tenant(brand)
        Member.objects.create(openid=openid)
    connection.set_schema_to_public()
    return a, b


@pytest.fixture
def cursor_calls(monkeypatch):
    """How many times Django's cursor() was asked for: the calls that did not take the thin path."""
    db = connections["default"]
    calls = []
    real = db.cursor

    def counting():
        calls.append(1)
        return real()

    monkeypatch.setattr(db, "cursor", counting)
    return calls


OPENID = "SELECT openid, current_schema() FROM members_member"


def test_each_call_reads_the_brand_selected_now(two_brands, cursor_calls):
    a, b = two_brands
    expected = {a: ("o-in-a", a.schema_name), b: ("o-in-b", b.schema_name)}
    seen = []
    for brand, calls in ((a, 2), (b, 3), (a, 1), (b, 2), (a, 3)):
        connection.set_tenant(brand)  # as each request (or task) selects its brand
        seen += [connection.execute_fetchone(OPENID, []) == expected[brand] for _ in range(calls)]

    assert seen == [True] * 11
    # the first call after a brand is selected goes through Django's cursor (which sends the SET), the others not
    assert len(cursor_calls) == 5


def test_inside_one_transaction_switching_brands(two_brands, cursor_calls):
    a, b = two_brands
    connection.set_tenant(a)
    with transaction.atomic():
        first_a = connection.execute_fetchone(OPENID, [])
        connection.set_tenant(b)
        in_b = [connection.execute_fetchone(OPENID, []) for _ in range(3)]
        connection.set_tenant(a)
        again_a = connection.execute_fetchone(OPENID, [])

    assert first_a == again_a == ("o-in-a", a.schema_name)
    assert in_b == [("o-in-b", b.schema_name)] * 3
    assert len(cursor_calls) == 3


def test_the_ledger_on_one_connection_credits_each_brand_its_own_member(two_brands):
    from points.models import PointsAccount
    from points.services import points_earn, points_redeem

    a, b = two_brands
    members = {}
    for brand in (a, b):
        connection.set_tenant(brand)
        members[brand] = Member.objects.get()
    assert members[a].pk == members[b].pk  # the same id in both schemas: the wrong schema would credit the other

    for i, brand in enumerate((a, b, b, a, a, b, a)):
        connection.set_tenant(brand)
        points_earn(member=members[brand], points=10 if brand == a else 1000, idempotency_key=f"k{i}", reason="r")
        points_redeem(member=members[brand], points=1, idempotency_key=f"r{i}", reason="r")

    balances = {}
    for brand in (a, b):
        connection.set_tenant(brand)
        balances[brand] = PointsAccount.objects.get().balance
    assert balances == {a: 4 * 10 - 4, b: 3 * 1000 - 3}


def test_logged_queries_and_execute_wrappers_see_the_statement(two_brands):
    a, _ = two_brands
    connection.set_tenant(a)
    connection.execute_fetchone(OPENID, [])  # the search path is now set: the thin path would apply
    wrapped = []

    def wrapper(execute, sql, params, many, context):
        wrapped.append(sql)
        return execute(sql, params, many, context)

    with CaptureQueriesContext(connection) as queries:
        connection.execute_fetchone("SELECT %s::int", [1])
    with connection.execute_wrapper(wrapper):
        row = connection.execute_fetchone("SELECT %s::int", [2])

    assert [q["sql"] for q in queries.captured_queries] == ["SELECT 1::int"]
    assert (wrapped, row) == (["SELECT %s::int"], (2,))


def test_errors_are_djangos_and_a_broken_transaction_is_refused(two_brands):
    a, _ = two_brands
    connection.set_tenant(a)
    connection.execute_fetchone(OPENID, [])

    with pytest.raises(DataError) as caught:
        connection.execute_fetchone("SELECT 1 / %s", [0])
    assert isinstance(caught.value.__cause__, psycopg2.errors.DivisionByZero)

    connection.execute_fetchone(OPENID, [])
    with transaction.atomic():
        transaction.set_rollback(True)
        with pytest.raises(TransactionManagementError):
            connection.execute_fetchone(OPENID, [])


# --- Prepared: parsed and planned once a database session ------------------------------------------------------

BY_OPENID = Prepared("SELECT openid, current_schema() FROM members_member WHERE openid LIKE %s", ["varchar"])


def _prepared_runs(name: str) -> int | None:
    """How many times this session ran the prepared statement `name` (None: the session does not have it)."""
    with connection.connection.cursor() as raw:  # the driver's cursor: no preparing of ours
        raw.execute("SELECT generic_plans + custom_plans FROM pg_prepared_statements WHERE name = %s", [name])
        row = raw.fetchone()
    return row[0] if row else None


def test_a_prepared_statement_is_run_by_name_and_follows_the_brand(two_brands):
    a, b = two_brands
    connection.set_tenant(a)
    in_a = [connection.execute_fetchone(BY_OPENID, ["o-%"]) for _ in range(4)]  # the first sets the search path
    runs_in_a = _prepared_runs(BY_OPENID.name)
    connection.set_tenant(b)
    in_b = [connection.execute_fetchone(BY_OPENID, ["o-%"]) for _ in range(3)]

    assert in_a == [("o-in-a", a.schema_name)] * 4
    assert in_b == [("o-in-b", b.schema_name)] * 3  # prepared while a's path was set, re-analysed for b's
    assert (runs_in_a, _prepared_runs(BY_OPENID.name)) == (3, 5)


def test_a_new_connection_prepares_it_again(two_brands):
    a, _ = two_brands
    connection.set_tenant(a)
    for _ in range(2):
        connection.execute_fetchone(BY_OPENID, ["o-%"])
    connection.close()

    connection.set_tenant(a)
    with transaction.atomic():  # where a statement the session lacks could not be retried
        rows = [connection.execute_fetchone(BY_OPENID, ["o-%"]) for _ in range(2)]

    assert rows == [("o-in-a", a.schema_name)] * 2
    assert _prepared_runs(BY_OPENID.name) == 1


def test_a_session_that_lost_its_statements(two_brands):
    a, _ = two_brands
    connection.set_tenant(a)
    for _ in range(2):
        connection.execute_fetchone(BY_OPENID, ["o-%"])

    with connection.connection.cursor() as raw:
        raw.execute("DEALLOCATE ALL")
    outside = connection.execute_fetchone(BY_OPENID, ["o-%"])  # nothing ran: prepared again and retried
    with connection.connection.cursor() as raw:
        raw.execute("DEALLOCATE ALL")
    with pytest.raises(OperationalError) as caught, transaction.atomic():
        connection.execute_fetchone(BY_OPENID, ["o-%"])  # the transaction is aborted: raised, not retried
    connection.set_tenant(a)
    after = [connection.execute_fetchone(BY_OPENID, ["o-%"]) for _ in range(2)]

    assert outside == ("o-in-a", a.schema_name)
    assert caught.value.__cause__.pgcode == "26000"
    assert after == [("o-in-a", a.schema_name)] * 2


def test_the_ledger_runs_its_functions_prepared(two_brands):
    from points.services import points_earn, points_redeem
    from points.services.ledger import _CREDIT, _DEBIT

    a, _ = two_brands
    connection.set_tenant(a)
    member = Member.objects.get()
    for n in range(3):
        points_earn(member=member, points=5, idempotency_key=f"e{n}", reason="r")
        points_redeem(member=member, points=1, idempotency_key=f"r{n}", reason="r")

    assert (_prepared_runs(_CREDIT.name), _prepared_runs(_DEBIT.name)) == (3, 3)
