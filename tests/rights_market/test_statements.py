"""What a redemption costs in statements (issue 17): pinned, so a change that adds round trips shows here."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from rights_market.models import Exchange, Offer
from rights_market.services.exchanges import Outcome, exchange_advance, exchange_request
from rights_market.services.redeem import exchange_redeem
from tests.rights_market.factories import balance_of, listing_make, member_make, offer_make


def _statements(queries) -> list[str]:
    return [q["sql"] for q in queries]


def test_a_redemption_request_reads_once_and_inserts_once(brand_a, brand_b):
    offer = offer_make(brand_a, stock=3, per_member_limit=2)
    listing = listing_make(brand_b, offer, points_price=100)
    member = member_make(brand_b, points=250)
    with schema_context(brand_b.schema_name):
        exchange_request(brand=brand_b, member=member, listing_id=listing.pk, request_key="warm")  # a replay below
        with CaptureQueriesContext(connection) as queries:
            exchange = exchange_request(brand=brand_b, member=member, listing_id=listing.pk, request_key="k")
    sqls = [s for s in _statements(queries) if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    # the listing with its offer + the member's count + balance + the request key's exchange, the INSERT
    assert len(sqls) == 2, sqls
    assert all(table in sqls[0] for table in ("points_pointsaccount", "rights_market_membertake", "request_key"))
    assert exchange.status == Exchange.Status.REQUESTED and not exchange.replayed


def test_driving_a_voucher_exchange_switches_schema_only_for_the_issuer(brand_a, brand_b):
    offer = offer_make(brand_a, stock=3, per_member_limit=1)
    listing = listing_make(brand_b, offer, points_price=100)
    member = member_make(brand_b, points=250)
    with schema_context(brand_b.schema_name):
        exchange = exchange_request(brand=brand_b, member=member, listing_id=listing.pk, request_key="k")
    connection.set_schema_to_public()
    with CaptureQueriesContext(connection) as queries:
        assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
    sqls = _statements(queries)
    sets = [s for s in sqls if s.startswith("SET search_path")]
    assert sets == [
        'SET search_path = "public"',  # the driver's one read of the exchange (the request left brand B's path)
        f'SET search_path = "{brand_b.schema_name}","public"',  # debit and stock, one path
        f'SET search_path = "{brand_a.schema_name}","public"',  # the voucher, in the issuer's schema
    ], sets
    work = [s for s in sqls if not s.startswith(("SET search_path", "SAVEPOINT", "RELEASE SAVEPOINT"))]
    # head 1; debit: lock, member, points, status 4; stock: lock, one statement 2; voucher: lock, look-up, voucher,
    # status, clearing line 5
    assert len(work) == 12, work
    assert balance_of(brand_b, member.pk) == 150
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 2


def test_redeeming_in_the_request_is_one_read_and_one_statement_with_no_search_path_change(brand_a, brand_b):
    offer = offer_make(brand_a, stock=3, per_member_limit=2)
    listing = listing_make(brand_b, offer, points_price=100)
    member = member_make(brand_b, points=250)
    with schema_context(brand_b.schema_name):
        exchange_redeem(brand=brand_b, member=member, listing_id=listing.pk, request_key="warm")
        with CaptureQueriesContext(connection) as queries:
            exchange = exchange_redeem(brand=brand_b, member=member, listing_id=listing.pk, request_key="k")
    sqls = [s for s in _statements(queries) if not s.startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    # the same read as a request's, then public.market_redeem: debit, voucher in brand A, exchange, line, stock
    assert len(sqls) == 2, sqls
    assert "market_redeem" in sqls[1]
    assert exchange.status == Exchange.Status.FULFILLED and not exchange.replayed
    assert balance_of(brand_b, member.pk) == 50
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 1
