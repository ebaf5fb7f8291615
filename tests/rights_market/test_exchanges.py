"""The exchange state machine, step by step, in one test transaction (alpha issues, beta accepts)."""

from __future__ import annotations

import pytest
from django.db.models import F
from django_tenants.utils import schema_context

from core.errors import ApplicationError
from rights_market.brandside.models import Voucher
from rights_market.models import ClearingLine, Exchange, MemberTake, Offer
from rights_market.services import exchanges as svc
from rights_market.services.catalogue import listing_create
from rights_market.services.exchanges import Outcome, exchange_advance
from tests.rights_market.factories import balance_of, exchange_requested, listing_make, member_make, offer_make

S = Exchange.Status


@pytest.fixture
def setup(brand_a, brand_b):
    offer = offer_make(brand_a, stock=3, per_member_limit=1)
    listing = listing_make(brand_b, offer, points_price=100)
    member = member_make(brand_b, points=250)
    return offer, listing, member


def test_happy_path_fulfils_with_one_voucher_in_the_issuer_schema(brand_a, brand_b, setup):
    offer, listing, member = setup
    exchange = exchange_requested(brand_b, member, listing)
    assert exchange.status == S.REQUESTED

    assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE

    exchange.refresh_from_db()
    assert exchange.status == S.FULFILLED
    assert exchange.points_debited_at and exchange.stock_taken_at and exchange.fulfilled_at
    assert balance_of(brand_b, member.pk) == 150
    offer.refresh_from_db()
    assert offer.remaining_stock == 2
    with schema_context(brand_a.schema_name):
        voucher = Voucher.objects.get(exchange_id=exchange.pk)
        assert exchange.fulfilment_ref == f"voucher:{voucher.pk}"
        assert exchange.fulfilment_code == voucher.code
    with schema_context(brand_b.schema_name):  # the voucher lives in the issuer's schema only
        assert not Voucher.objects.filter(exchange_id=exchange.pk).exists()
    line = ClearingLine.objects.get(exchange=exchange)
    assert (line.payer_id, line.payee_id, line.amount_fen) == (brand_b.pk, brand_a.pk, 300)


def test_each_step_run_again_does_nothing_twice(brand_a, brand_b, setup):
    offer, listing, member = setup
    exchange = exchange_requested(brand_b, member, listing)
    # a step's work done, but its status change lost (a crash between brand write and public update cannot
    # happen: they are one transaction; this checks the keys anyway): debit twice by key
    from rights_market import points_gateway

    with schema_context(brand_b.schema_name):
        points_gateway.points_debit_for_exchange(member=member, points=100, exchange_id=exchange.pk)
    exchange_advance(exchange_id=exchange.pk)
    exchange_advance(exchange_id=exchange.pk)
    assert balance_of(brand_b, member.pk) == 150
    with schema_context(brand_a.schema_name):
        assert Voucher.objects.filter(exchange_id=exchange.pk).count() == 1
    assert ClearingLine.objects.filter(exchange=exchange).count() == 1


def test_same_request_key_returns_the_same_exchange(brand_b, setup):
    _, listing, member = setup
    first = exchange_requested(brand_b, member, listing, key="k1")
    again = exchange_requested(brand_b, member, listing, key="k1")
    assert again.pk == first.pk and again.replayed
    assert Exchange.objects.filter(member_id=member.pk, accepting_brand=brand_b).count() == 1


def test_insufficient_points_is_refused_at_once(brand_b, setup):
    offer, listing, _ = setup
    poor = member_make(brand_b, points=50)
    with pytest.raises(ApplicationError) as exc:
        exchange_requested(brand_b, poor, listing)
    assert (exc.value.code, exc.value.status_code) == ("insufficient_points", 409)
    assert not Exchange.objects.filter(member_id=poor.pk, accepting_brand=brand_b).exists()


def test_points_spent_after_the_request_undo_at_the_debit_without_touching_stock(brand_b, setup):
    from points.services import points_redeem

    offer, listing, _ = setup
    poor = member_make(brand_b, points=150)
    exchange = exchange_requested(brand_b, poor, listing)  # enough at the request ...
    with schema_context(brand_b.schema_name):  # ... then spent elsewhere before the worker debits
        points_redeem(member=poor, points=100, idempotency_key="elsewhere", reason="shop")
    exchange_advance(exchange_id=exchange.pk)
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "insufficient_points")
    assert exchange.points_refunded_at is None and exchange.stock_released_at is None
    assert balance_of(brand_b, poor.pk) == 50
    offer.refresh_from_db()
    assert offer.remaining_stock == 3


def test_sold_out_after_debit_gives_the_points_back(brand_b, setup):
    offer, listing, member = setup
    exchange = exchange_requested(brand_b, member, listing)
    Offer.objects.filter(pk=offer.pk).update(remaining_stock=0)  # others took the rest meanwhile
    exchange_advance(exchange_id=exchange.pk)
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "sold_out")
    assert exchange.points_refunded_at is not None
    assert balance_of(brand_b, member.pk) == 250
    assert not MemberTake.objects.filter(member_id=member.pk, taken__gt=0).exists()
    offer.refresh_from_db()
    assert offer.remaining_stock == 0


def test_per_member_limit_is_enforced_at_the_stock_step(brand_b, setup):
    offer, listing, member = setup
    first = exchange_requested(brand_b, member, listing)
    second = exchange_requested(brand_b, member, listing)  # both asked before either took stock
    exchange_advance(exchange_id=first.pk)
    exchange_advance(exchange_id=second.pk)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == S.FULFILLED
    assert (second.status, second.undo_reason) == (S.UNDONE, "member_limit_reached")
    assert balance_of(brand_b, member.pk) == 150
    offer.refresh_from_db()
    assert offer.remaining_stock == 2
    with pytest.raises(ApplicationError) as exc:
        exchange_requested(brand_b, member, listing)
    assert exc.value.code == "member_limit_reached"


def test_voucher_fulfilment_failing_every_time_undoes_fully(brand_a, brand_b, setup, monkeypatch, settings):
    settings.EKR_MARKET_MAX_FULFIL_ATTEMPTS = 2
    offer, listing, member = setup
    import rights_market.brandside.services as brandside

    def broken(**kwargs):
        raise RuntimeError("issuer schema unavailable")

    monkeypatch.setattr(brandside, "voucher_issue", broken)
    exchange = exchange_requested(brand_b, member, listing)
    assert exchange_advance(exchange_id=exchange.pk) == Outcome.RETRY
    exchange.refresh_from_db()
    assert (exchange.status, exchange.attempts) == (S.STOCK_TAKEN, 1)
    assert "issuer schema unavailable" in exchange.last_error

    assert exchange_advance(exchange_id=exchange.pk) == Outcome.DONE
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "fulfilment_failed")
    assert exchange.stock_released_at and exchange.points_refunded_at
    assert balance_of(brand_b, member.pk) == 250
    offer.refresh_from_db()
    assert offer.remaining_stock == 3
    assert MemberTake.objects.get(member_id=member.pk, offer=offer).taken == 0
    assert not ClearingLine.objects.filter(exchange=exchange).exists()
    with schema_context(brand_a.schema_name):
        assert not Voucher.objects.filter(exchange_id=exchange.pk).exists()


def test_undo_resumed_after_partial_undo_gives_back_once(brand_b, setup):
    offer, listing, member = setup
    exchange = exchange_requested(brand_b, member, listing)
    svc._step_debit(exchange.pk)
    svc._step_take_stock(exchange.pk)
    Exchange.objects.filter(pk=exchange.pk).update(status=S.UNDOING, undo_reason="test")
    svc._undo_release_stock(exchange.pk)  # ... and the process dies here
    svc._undo_release_stock(exchange.pk)  # a second driver: no second release
    exchange_advance(exchange_id=exchange.pk)
    exchange_advance(exchange_id=exchange.pk)
    exchange.refresh_from_db()
    assert exchange.status == S.UNDONE
    assert balance_of(brand_b, member.pk) == 250
    offer.refresh_from_db()
    assert offer.remaining_stock == 3


def test_paused_offer_refuses_new_requests_and_undoes_in_flight(brand_a, brand_b, setup):
    from rights_market.services.catalogue import offer_status_change

    offer, listing, member = setup
    exchange = exchange_requested(brand_b, member, listing)
    offer_status_change(issuer=brand_a, offer_id=offer.pk, action="pause")
    exchange_advance(exchange_id=exchange.pk)
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "sold_out")
    assert balance_of(brand_b, member.pk) == 250
    other = member_make(brand_b, points=500)
    with pytest.raises(ApplicationError) as exc:
        exchange_requested(brand_b, other, listing)
    assert exc.value.code == "offer_not_live"


def test_eligibility_by_tier_rank_and_city(brand_a, brand_b):
    silver_sh = member_make(brand_b, points=500, tier="Silver", city="上海")  # rank 1
    gold_sh = member_make(brand_b, points=500, tier="Gold", city="上海")  # rank 2
    gold_bj = member_make(brand_b, points=500, tier="Gold", city="北京")
    no_tier = member_make(brand_b, points=500, city="上海")
    offer = offer_make(brand_a, min_tier_rank=2, eligible_cities=["上海"])
    listing = listing_make(brand_b, offer)
    assert exchange_requested(brand_b, gold_sh, listing).status == S.REQUESTED
    for member, code in (
        (gold_bj, "city_not_eligible"),
        (silver_sh, "tier_not_eligible"),
        (no_tier, "tier_not_eligible"),
    ):
        with pytest.raises(ApplicationError) as exc:
            exchange_requested(brand_b, member, listing)
        assert exc.value.code == code


def test_tier_eligibility_follows_the_tier_not_its_name(brand_a, brand_b):
    """The accepting brand lists for its own tier ids; renaming the tier changes nothing, and another tier
    that happens to carry the same name is not let in."""
    from members.models import CardLevel

    gold = member_make(brand_b, points=500, tier="Gold")
    with schema_context(brand_b.schema_name):
        gold_id = gold.tier_id
        CardLevel.objects.filter(pk=gold_id).update(name="黄金会员")
        impostor = CardLevel.objects.create(name="Gold", rank=99)
    lookalike = member_make(brand_b, points=500)
    with schema_context(brand_b.schema_name):
        type(lookalike).objects.filter(pk=lookalike.pk).update(tier=impostor)
        lookalike.refresh_from_db()
        gold.refresh_from_db()
    offer = offer_make(brand_a)
    listing = listing_create(brand=brand_b, offer_id=offer.pk, points_price=100, eligible_tier_ids=[gold_id])
    assert listing.eligible_tier_ids == [gold_id]
    assert exchange_requested(brand_b, gold, listing).status == S.REQUESTED
    with pytest.raises(ApplicationError) as exc:
        exchange_requested(brand_b, lookalike, listing)
    assert exc.value.code == "tier_not_eligible"
    with pytest.raises(ApplicationError) as exc:  # a tier id of another brand is not a tier here
        listing_create(brand=brand_b, offer_id=offer.pk, points_price=100, eligible_tier_ids=[gold_id + 1000])
    assert exc.value.code == "tier_not_found"


def test_stock_never_goes_below_zero_even_if_asked_directly(brand_a):
    offer = offer_make(brand_a, stock=1)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        Offer.objects.filter(pk=offer.pk).update(remaining_stock=F("remaining_stock") - 2)


def test_sweeper_lists_only_stuck_open_exchanges(brand_b, setup):
    _, listing, member = setup
    stuck = exchange_requested(brand_b, member, listing)
    done = exchange_requested(brand_b, member_make(brand_b, points=500), listing)
    exchange_advance(exchange_id=done.pk)
    from datetime import timedelta

    from django.utils import timezone

    Exchange.objects.filter(pk__in=[stuck.pk, done.pk]).update(updated_at=timezone.now() - timedelta(minutes=5))
    assert svc.exchanges_stuck(older_than_seconds=60) == [stuck.pk]


def test_undo_returns_points_to_their_own_lots_with_their_expiry(brand_b, setup, monkeypatch, settings):
    """Two lots with different expiries pay for the exchange; the undo puts each part back in its lot, with
    no new lot. A lot that expired meanwhile keeps its points expired (the restore entry's shortfall)."""
    from datetime import timedelta

    from django.utils import timezone

    from points.models import PointsEntry, PointsLot
    from points.services import points_earn
    from tests.points.ledger_checks import ledger_invariants_assert

    settings.EKR_MARKET_MAX_FULFIL_ATTEMPTS = 1
    offer, listing, _ = setup
    member = member_make(brand_b)
    soon = timezone.now() + timedelta(days=3)
    late = timezone.now() + timedelta(days=300)
    with schema_context(brand_b.schema_name):
        points_earn(member=member, points=60, idempotency_key="lot-soon", reason="seed", expires_at=soon)
        points_earn(member=member, points=80, idempotency_key="lot-late", reason="seed", expires_at=late)
    import rights_market.brandside.services as brandside

    monkeypatch.setattr(brandside, "voucher_issue", lambda **kw: (_ for _ in ()).throw(RuntimeError("down")))
    exchange = exchange_requested(brand_b, member, listing)
    exchange_advance(exchange_id=exchange.pk)
    exchange.refresh_from_db()
    assert (exchange.status, exchange.undo_reason) == (S.UNDONE, "fulfilment_failed")
    with schema_context(brand_b.schema_name):
        lots = {
            lot.entry.idempotency_key: (lot.remaining, lot.expires_at)
            for lot in PointsLot.objects.select_related("entry").filter(account__member=member)
        }
        assert lots == {"lot-soon": (60, soon), "lot-late": (80, late)}
        restore = PointsEntry.objects.get(member=member, kind="restore")
        assert (restore.amount, restore.shortfall, restore.reference) == (100, 0, f"market:{exchange.pk}")
        assert ledger_invariants_assert(member) == 140
        # again, under the same or another key: nothing more comes back
        from points.services import points_restore_to_lots

        again = points_restore_to_lots(
            member=member,
            debit_key=f"market-exchange-{exchange.pk}",
            idempotency_key=f"market-restore-{exchange.pk}",
            reason="rights market exchange undone",
        )
        assert again.pk == restore.pk and again.replayed
        assert (
            points_restore_to_lots(
                member=member, debit_key=f"market-exchange-{exchange.pk}", idempotency_key="other-key", reason="x"
            )
            is None
        )
        assert ledger_invariants_assert(member) == 140


def test_restore_leaves_points_of_a_lot_that_expired_meanwhile_expired(brand_b):
    from datetime import timedelta

    from django.utils import timezone

    from points.models import PointsEntry, PointsLot
    from points.services import points_earn, points_redeem, points_restore_to_lots
    from tests.points.ledger_checks import ledger_invariants_assert

    member = member_make(brand_b)
    with schema_context(brand_b.schema_name):
        short = points_earn(
            member=member,
            points=30,
            idempotency_key="short",
            reason="seed",
            expires_at=timezone.now() + timedelta(days=1),
        )
        points_earn(member=member, points=50, idempotency_key="long", reason="seed")
        points_redeem(member=member, points=70, idempotency_key="spend", reason="test")
        PointsLot.objects.filter(entry=short).update(expires_at=timezone.now() - timedelta(seconds=1))
        entry = points_restore_to_lots(member=member, debit_key="spend", idempotency_key="undo", reason="undo")
        assert (entry.kind, entry.amount, entry.shortfall) == ("restore", 40, 30)
        assert PointsLot.objects.get(entry=short).remaining == 0
        assert ledger_invariants_assert(member) == 50
        assert PointsEntry.objects.filter(member=member, kind="earn").count() == 2  # no fresh lot
