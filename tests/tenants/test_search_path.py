"""The database backend sends `SET search_path` only when the path changes (core/postgresql_backend), and never
leaves a statement running on a path a rollback undid."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from members.models import Member


def _sets(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].startswith("SET search_path")]


def _names() -> list[str]:
    return list(Member.objects.order_by("pk").values_list("openid", flat=True))


def test_switching_away_and_back_sends_the_path_again_only_when_it_changed(brand_a, brand_b):
    with schema_context(brand_a.schema_name):
        Member.objects.create(openid="only-in-a")
    with schema_context(brand_b.schema_name):
        Member.objects.create(openid="only-in-b")
    connection.set_tenant(brand_a)
    _names()  # the path of brand A is on the connection now
    with CaptureQueriesContext(connection) as queries:
        # a request's middleware: public, then its brand; a saga step entering and leaving a schema
        connection.set_schema_to_public()
        connection.set_tenant(brand_a)
        seen_a = _names()
        with schema_context(brand_b.schema_name):
            seen_b = _names()
        seen_a_again = _names()
    connection.set_schema_to_public()
    assert "only-in-a" in seen_a and "only-in-b" not in seen_a
    assert "only-in-b" in seen_b and "only-in-a" not in seen_b
    assert seen_a_again == seen_a
    assert _sets(queries) == [
        f'SET search_path = "{brand_b.schema_name}","public"',
        f'SET search_path = "{brand_a.schema_name}","public"',
    ]


def _path_in_use() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('search_path')")
        return cursor.fetchone()[0]


def test_a_path_set_in_a_rolled_back_transaction_is_sent_again(committed_db):
    from tenants.models import Brand

    alpha, beta = Brand.objects.get(slug="alpha"), Brand.objects.get(slug="beta")
    connection.set_tenant(alpha)
    assert _path_in_use() == "alpha, public"  # sent in autocommit: it stays
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            connection.set_tenant(beta)
            assert _path_in_use() == "beta, public"  # sent inside the transaction ...
            raise RuntimeError("roll back")  # ... and undone with it: the connection is on alpha's path again
        connection.set_tenant(beta)  # e.g. the next request of this thread, for the same brand
        with CaptureQueriesContext(connection) as queries:
            in_use = _path_in_use()  # its path must go out again
        assert in_use == "beta, public"
        assert _sets(queries) == ['SET search_path = "beta","public"']
    finally:
        connection.set_schema_to_public()


def test_a_rollback_keeps_a_path_sent_before_its_transaction(committed_db):
    """A refused order (a flash sale's usual answer) rolls back; the brand's path, sent before, still holds."""
    from tenants.models import Brand

    alpha = Brand.objects.get(slug="alpha")
    connection.set_tenant(alpha)
    try:
        assert _path_in_use() == "alpha, public"  # sent in autocommit
        with CaptureQueriesContext(connection) as queries:
            with pytest.raises(RuntimeError), transaction.atomic():
                _names()
                raise RuntimeError("out of stock")
            connection.set_schema_to_public()  # the request ends ...
            connection.set_tenant(alpha)  # ... and the next one is for the same brand
            in_use = _path_in_use()
        assert in_use == "alpha, public"
        assert _sets(queries) == []
    finally:
        connection.set_schema_to_public()
