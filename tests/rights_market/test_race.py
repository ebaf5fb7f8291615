"""1,000 members of three brands race for the last 10 units, each request and its steps driven at once from one
of 32 threads with its own database connection (started together by a barrier), on committed data: asks race
the drives, so request-time checks meet a stock that is being taken."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from django.db import connection, connections
from django.db.models import Sum
from django_tenants.utils import schema_context

from rights_market.brandside.models import Voucher
from rights_market.models import Exchange, MemberTake, Offer
from rights_market.services import exchanges as svc
from tests.rights_market.factories import listing_make, offer_make

MEMBERS = 1000
UNITS = 10
START_POINTS = 300
THREADS = 32


def _members_with_points(brand, count: int) -> list[int]:
    from members.models import Member
    from points.services import points_earn

    with schema_context(brand.schema_name):
        members = Member.objects.bulk_create(Member(openid=f"race-{uuid.uuid4().hex}") for _ in range(count))
        for member in members:
            points_earn(member=member, points=START_POINTS, idempotency_key=f"seed-{member.pk}", reason="seed")
        return [m.pk for m in members]


def _total_balance(brands) -> int:
    from points.models import PointsAccount

    total = 0
    for brand in brands:
        with schema_context(brand.schema_name):
            total += PointsAccount.objects.aggregate(s=Sum("balance"))["s"] or 0
    return total


def test_1000_members_race_for_the_last_10_units(new_brand, monkeypatch):
    # given: an issuer with 10 units left, listed by three brands at different prices
    monkeypatch.setattr(svc, "_drive_on_commit", lambda exchange_id: None)  # the threads drive, not a worker
    issuer = new_brand("iss")
    acceptors = [new_brand("acc") for _ in range(3)]
    offer = offer_make(issuer, stock=UNITS, per_member_limit=1)
    listings = {b.pk: listing_make(b, offer, points_price=100 + 50 * i) for i, b in enumerate(acceptors)}
    per_brand = [MEMBERS // 3 + (1 if i < MEMBERS % 3 else 0) for i in range(3)]
    jobs = [
        (brand, member_id, "race")
        for brand, n in zip(acceptors, per_brand)
        for member_id in _members_with_points(brand, n)
    ]
    connection.set_schema_to_public()
    initial = _total_balance(acceptors)
    assert initial == MEMBERS * START_POINTS

    lowest_seen = [UNITS]
    racing = threading.Event()

    def watch_stock() -> None:
        try:
            while racing.is_set():
                remaining = Offer.objects.filter(pk=offer.pk).values_list("remaining_stock", flat=True).get()
                lowest_seen[0] = min(lowest_seen[0], remaining)
                time.sleep(0.002)
        finally:
            connections.close_all()

    def ask_then_drive(job) -> int | str:
        """One member's request, driven at once by the same thread: later requests meet a stock other threads'
        drives are taking, so the request-time checks race the worker-side guards."""
        from core.errors import ApplicationError
        from members.models import Member

        brand, member_id, key = job
        try:
            with schema_context(brand.schema_name):
                member = Member.objects.get(pk=member_id)
                exchange = svc.exchange_request(
                    brand=brand, member=member, listing_id=listings[brand.pk].pk, request_key=key
                )
        except ApplicationError as exc:
            return exc.code
        finally:
            connection.set_schema_to_public()
        assert svc.exchange_advance(exchange_id=exchange.pk) == svc.Outcome.DONE
        return exchange.pk

    start = threading.Barrier(THREADS)

    def in_thread(chunk):
        try:
            connection.ensure_connection()
            start.wait(timeout=120)
            return [ask_then_drive(job) for job in chunk]
        finally:
            connection.set_schema_to_public()
            connections.close_all()

    # a tenth of the first brand's members ask twice, with two keys, from two threads
    twice = [(brand, member_id, "race-again") for brand, member_id, _ in jobs[: MEMBERS // 10]]
    all_jobs = jobs + twice
    random.shuffle(all_jobs)

    # when: 32 threads start together, each asking for its members and driving each exchange at once
    racing.set()
    watcher = threading.Thread(target=watch_stock)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            outcomes = [
                o for chunk in pool.map(in_thread, [all_jobs[i::THREADS] for i in range(THREADS)]) for o in chunk
            ]
    finally:
        racing.clear()
        watcher.join()

    # then: every ask either made an exchange or was refused at once as sold out or over the member's limit
    refused = Counter(o for o in outcomes if isinstance(o, str))
    exchange_ids = [o for o in outcomes if isinstance(o, int)]
    assert set(refused) <= {"sold_out", "member_limit_reached"}, refused
    assert refused["sold_out"] > 0  # asks did meet the stock the drives took
    assert len(exchange_ids) + sum(refused.values()) == len(all_jobs)

    # and exactly 10 fulfilled, one a member at most, the other exchanges undone, no points lost, stock never
    # negative
    exchanges = Exchange.objects.filter(offer=offer)
    assert sorted(exchanges.values_list("pk", flat=True)) == sorted(exchange_ids)
    fulfilled = exchanges.filter(status=Exchange.Status.FULFILLED)
    assert fulfilled.count() == UNITS
    assert fulfilled.values("accepting_brand", "member_id").distinct().count() == UNITS
    undone = exchanges.filter(status=Exchange.Status.UNDONE, undo_reason__in=["sold_out", "member_limit_reached"])
    assert undone.count() == exchanges.count() - UNITS
    assert undone.filter(points_refunded_at__isnull=False).count() == undone.count()
    spent = fulfilled.aggregate(s=Sum("points"))["s"]
    assert _total_balance(acceptors) + spent == initial
    assert Offer.objects.get(pk=offer.pk).remaining_stock == 0
    assert lowest_seen[0] >= 0
    assert MemberTake.objects.filter(offer=offer).aggregate(s=Sum("taken"))["s"] == UNITS
    with schema_context(issuer.schema_name):
        assert Voucher.objects.filter(offer_id=offer.pk).count() == UNITS
    connection.set_schema_to_public()
