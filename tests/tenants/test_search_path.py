"""core.db_backend: `SET search_path` is sent only when the session has another one, and never trusted inside a
transaction or after a rollback. Committed data on one connection, as a web thread or a worker has it."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from members.models import Member


def _sets(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SET search_path")]


def _session_path() -> str:
    with connection.connection.cursor() as raw:  # the driver's cursor: no search_path handling of ours
        raw.execute("SHOW search_path")
        return raw.fetchone()[0]


@pytest.fixture
def two_brands(new_brand):
    a, b = new_brand("spa", with_app=False), new_brand("spb", with_app=False)
    for brand, openid in ((a, "o-in-a"), (b, "o-in-b")):
        connection.set_tenant(brand)
        Member.objects.create(openid=openid)
    connection.set_schema_to_public()
    return a, b


def test_the_same_brand_again_sends_no_set(two_brands):
    a, _ = two_brands
    connection.set_tenant(a)
    list(Member.objects.values_list("openid", flat=True))  # the session now has a's path

    with CaptureQueriesContext(connection) as queries:
        connection.set_tenant(a)  # the next request of this thread, same brand
        openids = list(Member.objects.values_list("openid", flat=True))

    assert openids == ["o-in-a"]
    assert _sets(queries) == []


def test_another_brand_sends_the_set_and_sees_only_its_rows(two_brands):
    a, b = two_brands
    connection.set_tenant(a)
    list(Member.objects.all())

    with CaptureQueriesContext(connection) as queries:
        connection.set_tenant(b)
        in_b = list(Member.objects.values_list("openid", flat=True))
        connection.set_tenant(a)
        in_a = list(Member.objects.values_list("openid", flat=True))

    assert (in_b, in_a) == (["o-in-b"], ["o-in-a"])
    assert len(_sets(queries)) == 2
    assert _session_path().startswith(a.schema_name)


def test_a_set_undone_by_a_rollback_is_sent_again(two_brands):
    a, b = two_brands
    connection.set_tenant(a)
    list(Member.objects.all())

    with pytest.raises(RuntimeError), transaction.atomic():
        connection.set_tenant(b)
        list(Member.objects.all())  # SET search_path to b inside the transaction ...
        raise RuntimeError  # ... which PostgreSQL undoes with it
    assert _session_path().startswith(a.schema_name)

    connection.set_tenant(b)
    openids = list(Member.objects.values_list("openid", flat=True))

    assert openids == ["o-in-b"]
    assert _session_path().startswith(b.schema_name)


def test_inside_a_transaction_the_set_is_always_sent(two_brands):
    a, _ = two_brands
    connection.set_tenant(a)
    list(Member.objects.all())

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        connection.set_tenant(a)
        openids = list(Member.objects.values_list("openid", flat=True))

    assert openids == ["o-in-a"]
    assert len(_sets(queries)) == 1  # a SET LOCAL may be in force in a transaction: never skipped there
