"""Redeeming in the request, raced for real: threads on their own connections, on committed data, held by a
barrier until every one of them has passed the request-time checks, so the statement's own guards decide. And a
redemption whose database session dies half-way through the statement."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
from django.conf import settings
from django.db import connection, connections
from django_tenants.utils import schema_context

from core.errors import ApplicationError
from points.models import PointsEntry
from rights_market.brandside.models import Voucher
from rights_market.models import ClearingLine, Exchange, MemberTake, Offer
from rights_market.services import redeem as redeem_module
from tests.helpers import wait_until
from tests.points.ledger_checks import ledger_invariants_assert
from tests.rights_market.factories import balance_of, listing_make, member_make, offer_make

S = Exchange.Status


def race(monkeypatch, brand, listing, asks: list[tuple[int, str]]) -> list[int | str]:
    """Each (member id, request key) redeemed from its own thread and connection; all pass the request-time
    checks before any runs the statement. Returns each ask's exchange id or refusal code ("replay:<id>" for a
    replayed one)."""
    from members.models import Member

    barrier = threading.Barrier(len(asks))
    real_checked = redeem_module.request_checked

    def checked_then_wait(**kwargs):
        try:
            return real_checked(**kwargs)
        finally:
            barrier.wait(timeout=60)

    monkeypatch.setattr(redeem_module, "request_checked", checked_then_wait)

    def ask(job):
        member_id, key = job
        try:
            with schema_context(brand.schema_name):
                member = Member.objects.get(pk=member_id)
                exchange = redeem_module.exchange_redeem(
                    brand=brand, member=member, listing_id=listing.pk, request_key=key
                )
            return f"replay:{exchange.pk}" if exchange.replayed else exchange.pk
        except ApplicationError as exc:
            return exc.code
        finally:
            connection.set_schema_to_public()
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(asks)) as pool:
        return list(pool.map(ask, asks))


def _world(new_brand, *, stock: int, points: list[int]):
    issuer, acceptor = new_brand("iss"), new_brand("acc")
    offer = offer_make(issuer, stock=stock, per_member_limit=5)
    listing = listing_make(acceptor, offer, points_price=100)
    members = [member_make(acceptor, points=p) for p in points]
    connection.set_schema_to_public()
    return issuer, acceptor, offer, listing, members


def test_two_members_race_for_the_last_unit_one_wins_the_other_keeps_everything(new_brand, monkeypatch):
    issuer, acceptor, offer, listing, (ann, bob) = _world(new_brand, stock=1, points=[300, 300])

    outcomes = race(monkeypatch, acceptor, listing, [(ann.pk, "a"), (bob.pk, "b")])

    won = [o for o in outcomes if isinstance(o, int)]
    assert len(won) == 1 and outcomes.count("sold_out") == 1, outcomes
    exchange = Exchange.objects.get(offer=offer)
    assert exchange.pk == won[0] and exchange.status == S.FULFILLED
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 0
    assert MemberTake.objects.filter(offer=offer, taken__gt=0).count() == 1
    assert ClearingLine.objects.filter(offer=offer).count() == 1
    winner, loser = (ann, bob) if exchange.member_id == ann.pk else (bob, ann)
    assert (balance_of(acceptor, winner.pk), balance_of(acceptor, loser.pk)) == (200, 300)
    with schema_context(acceptor.schema_name):
        assert ledger_invariants_assert(winner) == 200 and ledger_invariants_assert(loser) == 300
        assert not PointsEntry.objects.filter(member_id=loser.pk, kind="redeem").exists()
    with schema_context(issuer.schema_name):
        assert list(Voucher.objects.filter(offer_id=offer.pk).values_list("exchange_id", flat=True)) == [exchange.pk]
    connection.set_schema_to_public()


def test_the_same_request_twice_at_once_is_one_exchange_one_debit_one_voucher(new_brand, monkeypatch):
    issuer, acceptor, offer, listing, (ann,) = _world(new_brand, stock=5, points=[300])

    outcomes = race(monkeypatch, acceptor, listing, [(ann.pk, "same"), (ann.pk, "same")])

    exchange = Exchange.objects.get(offer=offer)
    assert sorted(outcomes, key=str) == sorted([exchange.pk, f"replay:{exchange.pk}"], key=str), outcomes
    assert exchange.status == S.FULFILLED
    assert balance_of(acceptor, ann.pk) == 200
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 4
    with schema_context(acceptor.schema_name):
        assert PointsEntry.objects.filter(member_id=ann.pk, kind="redeem").count() == 1
        assert ledger_invariants_assert(ann) == 200
    with schema_context(issuer.schema_name):
        assert Voucher.objects.filter(offer_id=offer.pk).count() == 1
    connection.set_schema_to_public()


def test_one_members_points_for_one_raced_by_two_requests_never_go_negative(new_brand, monkeypatch):
    issuer, acceptor, offer, listing, (ann,) = _world(new_brand, stock=5, points=[150])

    outcomes = race(monkeypatch, acceptor, listing, [(ann.pk, "one"), (ann.pk, "two")])

    assert sorted(outcomes, key=str)[-1] == "insufficient_points" and sum(isinstance(o, int) for o in outcomes) == 1
    assert Exchange.objects.filter(offer=offer).count() == 1
    assert balance_of(acceptor, ann.pk) == 50
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 4
    with schema_context(acceptor.schema_name):
        assert ledger_invariants_assert(ann) == 50
    connection.set_schema_to_public()


def _raw_connection():
    db = settings.DATABASES["default"]
    params = {"dbname": db["NAME"], "user": db.get("USER"), "host": db.get("HOST"), "port": db.get("PORT")}
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v})
    return conn


def test_a_session_killed_mid_statement_leaves_nothing_and_the_retry_redeems_once(new_brand):
    """The voucher table of the issuer is locked, so the statement stops there after debiting the member; its
    session is then terminated (what the server does when the web process dies): nothing of it is left, and
    the member's retry with the same key redeems once."""
    from members.models import Member

    issuer, acceptor, offer, listing, (ann,) = _world(new_brand, stock=3, points=[300])
    table = f'"{issuer.schema_name}"."{Voucher._meta.db_table}"'
    blocker, ops = _raw_connection(), _raw_connection()
    ops.autocommit = True
    failure: list[BaseException] = []
    key = f"crash-{uuid.uuid4().hex[:6]}"

    def redeem_in_thread():
        try:
            with schema_context(acceptor.schema_name):
                member = Member.objects.get(pk=ann.pk)
                redeem_module.exchange_redeem(brand=acceptor, member=member, listing_id=listing.pk, request_key=key)
        except BaseException as exc:  # what the dying session raised, for the assertion below
            failure.append(exc)
        finally:
            connections.close_all()

    def waiting_pids() -> list[int]:
        with ops.cursor() as cur:
            cur.execute("SELECT pid FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table])
            return [row[0] for row in cur.fetchall()]

    try:
        with blocker.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        thread = threading.Thread(target=redeem_in_thread)
        thread.start()
        wait_until(lambda: waiting_pids(), timeout=30, message="the statement waits at the issuer's voucher")
        with ops.cursor() as cur:  # its points debit is done, uncommitted, inside the statement
            cur.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [waiting_pids()])
        thread.join(timeout=30)
        blocker.rollback()
    finally:
        blocker.close()
        ops.close()
    assert failure, "the redemption's session was terminated: its statement must have failed"
    assert "terminat" in str(failure[0]).lower() or "closed" in str(failure[0]).lower(), failure

    assert not Exchange.objects.filter(offer=offer).exists()
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 3
    assert not MemberTake.objects.filter(offer=offer).exists()
    assert balance_of(acceptor, ann.pk) == 300
    with schema_context(acceptor.schema_name):
        assert not PointsEntry.objects.filter(member_id=ann.pk, kind="redeem").exists()
        assert ledger_invariants_assert(ann) == 300
        retried = redeem_module.exchange_redeem(brand=acceptor, member=ann, listing_id=listing.pk, request_key=key)
        again = redeem_module.exchange_redeem(brand=acceptor, member=ann, listing_id=listing.pk, request_key=key)
        assert retried.status == S.FULFILLED and again.pk == retried.pk and again.replayed
        assert ledger_invariants_assert(ann) == 200
    with schema_context(issuer.schema_name):
        assert Voucher.objects.filter(offer_id=offer.pk).count() == 1
    connection.set_schema_to_public()
