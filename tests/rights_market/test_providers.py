"""Virtual goods through the JSON-over-HTTP provider adapter, against a fake provider on loopback."""

from __future__ import annotations

import pytest

from rights_market.models import ClearingLine, Exchange, Offer
from rights_market.providers import JsonHttpProvider, ProviderRejected, ProviderUnavailable
from rights_market.services.exchanges import Outcome, exchange_advance, provider_reference
from tests.rights_market.factories import balance_of, exchange_requested, listing_make, member_make, offer_make

S = Exchange.Status


@pytest.fixture
def virtual(brand_a, brand_b, provider_row):
    offer = offer_make(
        brand_a,
        stock=5,
        kind=Offer.Kind.VIRTUAL,
        title="Video VIP month",
        provider_slug=provider_row.slug,
        provider_sku="vip-1m",
    )
    listing = listing_make(brand_b, offer, points_price=200)
    member = member_make(brand_b, points=500)
    return offer, listing, member


class TestAdapter:
    def test_issue_is_idempotent_on_reference_and_signed(self, fake_provider):
        adapter = JsonHttpProvider(base_url=fake_provider.base_url, key=fake_provider.key, timeout=2)
        first = adapter.issue_code(reference="r-1", sku="vip")
        again = adapter.issue_code(reference="r-1", sku="vip")
        assert first.code and first.code == again.code and fake_provider.issued == 1
        assert adapter.check_status(reference="r-1").status == "issued"
        assert adapter.void(reference="r-1").status == "void"
        assert adapter.check_status(reference="nope").status == "unknown"

    def test_wrong_key_is_refused_and_an_unsigned_answer_is_not_trusted(self, fake_provider):
        adapter = JsonHttpProvider(base_url=fake_provider.base_url, key="not-the-key", timeout=2)
        with pytest.raises(ProviderUnavailable, match="signature"):
            adapter.issue_code(reference="r-2", sku="vip")
        assert fake_provider.bad_signatures == 1 and fake_provider.issued == 0

    def test_timeout_and_errors(self, fake_provider):
        adapter = JsonHttpProvider(base_url=fake_provider.base_url, key=fake_provider.key, timeout=0.3)
        fake_provider.mode, fake_provider.delay = "slow", 1.0
        with pytest.raises(ProviderUnavailable):
            adapter.issue_code(reference="r-3", sku="vip")
        fake_provider.mode = "fail"
        with pytest.raises(ProviderUnavailable, match="500"):
            adapter.issue_code(reference="r-4", sku="vip")
        fake_provider.mode = "reject"
        with pytest.raises(ProviderRejected):
            adapter.issue_code(reference="r-5", sku="vip")


def test_virtual_good_is_fulfilled_with_the_provider_code(brand_b, virtual, fake_provider):
    offer, listing, member = virtual
    exchange = exchange_requested(brand_b, member, listing)
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
    exchange.refresh_from_db()
    assert exchange.status == S.FULFILLED
    assert exchange.fulfilment_ref == f"provider:{provider_reference(exchange.pk)}"
    assert exchange.fulfilment_code == fake_provider.codes[provider_reference(exchange.pk)]["code"]
    assert ClearingLine.objects.filter(exchange=exchange).exists()
    assert balance_of(brand_b, member.pk) == 300


def test_slow_provider_times_out_then_the_retry_gets_the_same_single_code(brand_b, virtual, fake_provider):
    offer, listing, member = virtual
    fake_provider.mode, fake_provider.delay = "slow", 1.5  # the provider row's timeout is 1.0 s
    exchange = exchange_requested(brand_b, member, listing)
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.RETRY
    exchange.refresh_from_db()
    assert (exchange.status, exchange.attempts) == (S.STOCK_TAKEN, 1)

    fake_provider.mode = "ok"
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
    exchange.refresh_from_db()
    assert exchange.status == S.FULFILLED and exchange.attempts == 2
    assert fake_provider.issued == 1  # the timed-out call did issue; the retry got that code, not a second


def test_provider_refusal_undoes_the_exchange(brand_b, virtual, fake_provider):
    offer, listing, member = virtual
    fake_provider.mode = "reject"
    exchange = exchange_requested(brand_b, member, listing)
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "provider_rejected")
    assert balance_of(brand_b, member.pk) == 500
    offer.refresh_from_db()
    assert offer.remaining_stock == 5
    assert not ClearingLine.objects.filter(exchange=exchange).exists()


def test_failing_provider_is_not_undone_until_the_code_is_voided(brand_b, virtual, fake_provider, settings):
    settings.EKR_MARKET_MAX_FULFIL_ATTEMPTS = 2
    offer, listing, member = virtual
    fake_provider.mode = "fail"
    exchange = exchange_requested(brand_b, member, listing)
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.RETRY
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.RETRY  # gave up issuing; void cannot get through
    exchange.refresh_from_db()
    assert exchange.status == S.STOCK_TAKEN and "void failed" in exchange.last_error
    assert balance_of(brand_b, member.pk) == 300  # still held: undoing now could leave a live code

    fake_provider.mode = "ok"
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "provider_unavailable")
    assert balance_of(brand_b, member.pk) == 500
    offer.refresh_from_db()
    assert offer.remaining_stock == 5
