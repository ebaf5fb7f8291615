"""Redeeming in the request (rights_market.services.redeem, public.market_redeem): every step in one statement,
all or nothing, in one test transaction (alpha issues, beta accepts)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection
from django_tenants.utils import schema_context

from core.errors import ApplicationError
from points.models import PointsEntry
from points.services.ledger import request_fingerprint
from rights_market import points_gateway
from rights_market.brandside.models import Voucher
from rights_market.models import ClearingLine, Exchange, MemberTake, Offer
from rights_market.services.exchanges import Outcome, exchange_advance, provider_reference
from rights_market.services.redeem import exchange_redeem
from tests.points.ledger_checks import ledger_invariants_assert
from tests.rights_market.factories import balance_of, listing_make, member_make, offer_make

S = Exchange.Status


def redeem(brand, member, listing, key: str = "k") -> Exchange:
    with schema_context(brand.schema_name):
        return exchange_redeem(brand=brand, member=member, listing_id=listing.pk, request_key=key)


@pytest.fixture
def setup(brand_a, brand_b):
    offer = offer_make(brand_a, stock=3, per_member_limit=1, voucher_valid_days=10)
    listing = listing_make(brand_b, offer, points_price=100)
    member = member_make(brand_b, points=250)
    return offer, listing, member


def test_a_voucher_is_fulfilled_in_the_request_with_every_record_of_both_sides(brand_a, brand_b, setup):
    offer, listing, member = setup

    exchange = redeem(brand_b, member, listing)

    assert (exchange.status, exchange.replayed, exchange.points) == (S.FULFILLED, False, 100)
    stored = Exchange.objects.get(pk=exchange.pk)
    assert stored.status == S.FULFILLED and stored.points_debited_at and stored.stock_taken_at
    assert stored.fulfilled_at == stored.requested_at == exchange.requested_at
    assert (stored.accepting_brand_id, stored.issuer_id, stored.member_id) == (brand_b.pk, brand_a.pk, member.pk)
    with schema_context(brand_a.schema_name):
        voucher = Voucher.objects.get(exchange_id=exchange.pk)
        assert stored.fulfilment_ref == f"voucher:{voucher.pk}"
        assert stored.fulfilment_code == exchange.fulfilment_code == voucher.code  # encrypted at rest, same code
        assert (voucher.title, voucher.kind, voucher.face_value_fen, voucher.accepting_brand_id) == (
            offer.title,
            offer.kind,
            offer.face_value_fen,
            brand_b.pk,
        )
        assert (voucher.valid_until - stored.fulfilled_at).days == 10 and voucher.status == Voucher.Status.ISSUED
    with schema_context(brand_b.schema_name):  # the voucher lives in the issuer's schema only
        assert not Voucher.objects.filter(exchange_id=exchange.pk).exists()
    line = ClearingLine.objects.get(exchange_id=exchange.pk)
    assert (line.payer_id, line.payee_id, line.amount_fen, line.month.day) == (brand_b.pk, brand_a.pk, 300, 1)
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 2
    assert MemberTake.objects.get(offer=offer, brand=brand_b, member_id=member.pk).taken == 1
    assert balance_of(brand_b, member.pk) == 150
    with schema_context(brand_b.schema_name):
        debit = PointsEntry.objects.get(member_id=member.pk, kind="redeem")
        assert (debit.amount, debit.idempotency_key, debit.reference, debit.reason) == (
            -100,
            points_gateway.debit_key(exchange.pk),
            f"market:{exchange.pk}",
            points_gateway.DEBIT_REASON,
        )
        # the fingerprint points.services computes: the state machine's debit step replays this entry
        assert debit.fingerprint == request_fingerprint(
            "redeem",
            member=member.pk,
            points=100,
            reference=f"market:{exchange.pk}",
            reason=points_gateway.DEBIT_REASON,
        )
        again = points_gateway.points_debit_for_exchange(member=member, points=100, exchange_id=exchange.pk)
        assert again.pk == debit.pk and again.replayed
        assert ledger_invariants_assert(member) == 150
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE  # a driver finds nothing left to do


def test_the_same_request_key_returns_the_first_exchange_even_once_sold_out(brand_b, setup):
    offer, listing, member = setup
    first = redeem(brand_b, member, listing, key="k1")
    Offer.objects.filter(pk=offer.pk).update(remaining_stock=0)
    again = redeem(brand_b, member, listing, key="k1")
    assert (again.pk, again.replayed, again.status) == (first.pk, True, S.FULFILLED)
    assert Exchange.objects.filter(accepting_brand=brand_b, member_id=member.pk).count() == 1
    assert balance_of(brand_b, member.pk) == 150


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        ("stock", "sold_out"),
        ("limit", "member_limit_reached"),
        ("points", "insufficient_points"),
    ],
)
def test_a_refusal_inside_the_statement_writes_nothing(brand_a, brand_b, setup, spoil, code, monkeypatch):
    """What the request-time checks let through and the statement then refuses (a race lost between them):
    the statement's own guards, with its earlier writes (debit, voucher, exchange, line) undone."""
    from rights_market.services import redeem as redeem_module

    offer, listing, member = setup
    real_checked = redeem_module.request_checked

    def checked_then_spoiled(**kwargs):  # the checks pass; then someone else takes what they counted on
        result = real_checked(**kwargs)
        if spoil == "stock":
            Offer.objects.filter(pk=offer.pk).update(remaining_stock=0)
        elif spoil == "limit":
            MemberTake.objects.create(offer=offer, brand=brand_b, member_id=member.pk, taken=1, limit_at_take=1)
        else:
            from points.services import points_redeem

            points_redeem(member=member, points=200, idempotency_key="elsewhere", reason="shop")
        return result

    monkeypatch.setattr(redeem_module, "request_checked", checked_then_spoiled)
    with pytest.raises(ApplicationError) as exc:
        redeem(brand_b, member, listing)
    assert (exc.value.code, exc.value.status_code) == (code, 409)
    assert not Exchange.objects.filter(member_id=member.pk, accepting_brand=brand_b).exists()
    assert not ClearingLine.objects.filter(offer=offer).exists()
    with schema_context(brand_a.schema_name):
        assert not Voucher.objects.filter(offer_id=offer.pk).exists()
    with schema_context(brand_b.schema_name):
        assert not PointsEntry.objects.filter(member_id=member.pk, kind="redeem", reference__startswith="market:")
        assert ledger_invariants_assert(member) == (50 if spoil == "points" else 250)
    assert Offer.objects.get(pk=offer.pk).remaining_stock == (0 if spoil == "stock" else 3)
    assert MemberTake.objects.filter(offer=offer).values_list("taken", flat=True).first() in (None, 1)
    # the caller's transaction is still usable (the refusal was undone in the statement's own subtransaction)
    assert Exchange.objects.count() >= 0


def test_the_statement_refuses_to_run_outside_the_accepting_brands_schema(brand_a, brand_b, setup):
    """The debit acts on the schema leading the search path: called in another brand's schema, the statement
    refuses and writes nothing, in that brand (whose member may carry the same id) or any other."""
    from django.db import transaction

    offer, listing, member = setup
    other = member_make(brand_a, points=250)
    from rights_market.services.redeem import _redeem

    with schema_context(brand_a.schema_name), pytest.raises(DatabaseError, match="accepting brand"):
        with transaction.atomic():  # the statement itself (the request's checks would read alpha's tables)
            _redeem(brand=brand_b, member=member, listing_id=listing.pk, request_key="k")
    connection.set_schema_to_public()
    assert not Exchange.objects.filter(listing=listing).exists()
    assert balance_of(brand_b, member.pk) == 250 and balance_of(brand_a, other.pk) == 250
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 3


def test_a_listing_of_another_brand_is_not_found(brand_a, brand_b, setup):
    offer, listing, member = setup
    alpha_member = member_make(brand_a, points=250)
    with pytest.raises(ApplicationError) as exc:
        redeem(brand_a, alpha_member, listing)
    assert exc.value.code == "listing_not_found"
    assert not Exchange.objects.filter(listing=listing).exists()


class TestOutsideFulfilment:
    """A provider's code is the outside part: the request takes the points and the stock, the driver (worker)
    calls the provider after commit, and undoes both if the provider refuses."""

    @pytest.fixture
    def virtual(self, brand_a, brand_b, provider_row):
        offer = offer_make(
            brand_a, stock=5, kind=Offer.Kind.VIRTUAL, provider_slug=provider_row.slug, provider_sku="vip-1m"
        )
        return offer, listing_make(brand_b, offer, points_price=200), member_make(brand_b, points=500)

    def test_fulfilled_by_the_driver_after_the_request(
        self, brand_b, virtual, fake_provider, django_capture_on_commit_callbacks
    ):
        offer, listing, member = virtual
        with django_capture_on_commit_callbacks() as queued:
            exchange = redeem(brand_b, member, listing)
        assert exchange.status == S.STOCK_TAKEN and len(queued) == 1  # its driver, after commit
        assert balance_of(brand_b, member.pk) == 300 and Offer.objects.get(pk=offer.pk).remaining_stock == 4
        assert fake_provider.issued == 0  # never called inside the request's transaction
        assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
        exchange.refresh_from_db()
        assert exchange.status == S.FULFILLED
        assert exchange.fulfilment_code == fake_provider.codes[provider_reference(exchange.pk)]["code"]
        assert ClearingLine.objects.filter(exchange=exchange).count() == 1

    def test_a_refusing_provider_gives_the_points_back_to_their_lots_and_the_stock_back(
        self, brand_b, virtual, fake_provider
    ):
        offer, listing, member = virtual
        fake_provider.mode = "reject"
        exchange = redeem(brand_b, member, listing)
        assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
        exchange.refresh_from_db()
        assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "provider_rejected")
        assert balance_of(brand_b, member.pk) == 500
        assert Offer.objects.get(pk=offer.pk).remaining_stock == 5
        assert MemberTake.objects.get(offer=offer, member_id=member.pk).taken == 0
        with schema_context(brand_b.schema_name):
            restore = PointsEntry.objects.get(member_id=member.pk, kind="restore")
            assert (restore.amount, restore.shortfall) == (200, 0)  # into the lot the debit took from
            assert ledger_invariants_assert(member) == 500
        assert not ClearingLine.objects.filter(exchange=exchange).exists()


class TestCouponTemplateOffers:
    """An offer published from the issuer's coupon template takes one coupon of the template's stock in the same
    statement (in the issuer's schema); none left is a refusal with nothing written."""

    @pytest.fixture
    def template_offer(self, brand_a, brand_b):
        from miniprograms.services.coupons import coupon_template_create
        from rights_market.services.catalogue import offers_publish_coupon_templates

        with schema_context(brand_a.schema_name):
            template = coupon_template_create(
                name="满20减10", kind="amount_off", amount_off_fen=1000, threshold_fen=2000, total_stock=1
            )
            [offer] = offers_publish_coupon_templates(
                issuer=brand_a, template_ids=[template.pk], settlement_price_fen=300, stock_per_template=5
            )
        return template, offer, listing_make(brand_b, offer, points_price=100)

    def test_fulfilled_in_the_request_with_the_templates_coupon_taken(self, brand_a, brand_b, template_offer):
        from miniprograms.models import CouponTemplate
        from rights_market.brandside.services import voucher_claim

        template, offer, listing = template_offer
        exchange = redeem(brand_b, member_make(brand_b, points=300), listing)
        assert exchange.status == S.FULFILLED
        with schema_context(brand_a.schema_name):
            assert CouponTemplate.objects.get(pk=template.pk).issued_count == 1
            voucher = Voucher.objects.get(exchange_id=exchange.pk)
            assert voucher.coupon_template_id == template.pk
            claimed = voucher_claim(code=voucher.code, openid="o-claimer")
            assert claimed.coupon.template_id == template.pk and claimed.coupon.code == voucher.code

    @pytest.mark.parametrize("gone", ["sold_out", "inactive"])
    def test_the_templates_stock_gone_is_sold_out_with_nothing_written(self, brand_a, brand_b, template_offer, gone):
        from miniprograms.models import CouponTemplate

        template, offer, listing = template_offer
        with schema_context(brand_a.schema_name):
            if gone == "sold_out":
                CouponTemplate.objects.filter(pk=template.pk).update(issued_count=1)
            else:
                CouponTemplate.objects.filter(pk=template.pk).update(active=False)
        member = member_make(brand_b, points=300)
        stock = Offer.objects.get(pk=offer.pk).remaining_stock
        with pytest.raises(ApplicationError) as exc:
            redeem(brand_b, member, listing)
        assert (exc.value.code, exc.value.status_code) == ("sold_out", 409)
        assert not Exchange.objects.filter(offer=offer).exists()
        assert Offer.objects.get(pk=offer.pk).remaining_stock == stock == 1
        assert balance_of(brand_b, member.pk) == 300
        with schema_context(brand_a.schema_name):
            assert not Voucher.objects.filter(offer_id=offer.pk).exists()
            assert CouponTemplate.objects.get(pk=template.pk).issued_count == (1 if gone == "sold_out" else 0)


def test_a_voucher_code_taken_already_is_drawn_again(brand_a, brand_b, setup, monkeypatch):
    """Codes are random (32^12): one that collides with an existing voucher's fails the statement as a whole,
    and the redemption is tried again with a new code."""
    import rights_market.brandside.services as brandside

    offer, listing, member = setup
    first = redeem(brand_b, member_make(brand_b, points=250), listing, key="first")
    with schema_context(brand_a.schema_name):
        taken = Voucher.objects.get(exchange_id=first.pk).code
    codes = iter([taken, "NEWCODE23456"])
    monkeypatch.setattr(brandside, "voucher_code_new", lambda: next(codes))

    exchange = redeem(brand_b, member, listing, key="second")

    assert exchange.status == S.FULFILLED and exchange.fulfilment_code == "NEWCODE23456"
    assert balance_of(brand_b, member.pk) == 150
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 1
    with schema_context(brand_a.schema_name):
        assert Voucher.objects.get(exchange_id=exchange.pk).code == "NEWCODE23456"
