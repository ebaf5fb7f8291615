"""1,000 members of three brands race for the last 10 units, each request and its steps driven from one of 32
threads with its own database connection, on committed data."""
from __future__ import annotations

import random
import threading
import time
import uuid
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
    jobs = [(brand, member_id) for brand, n in zip(acceptors, per_brand) for member_id in
            _members_with_points(brand, n)]
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

    def request(job) -> int:
        from members.models import Member

        brand, member_id = job
        with schema_context(brand.schema_name):
            member = Member.objects.get(pk=member_id)
            exchange = svc.exchange_request(brand=brand, member=member, listing_id=listings[brand.pk].pk,
                                            request_key="race")
        connection.set_schema_to_public()
        return exchange.pk

    def drive(exchange_id: int) -> None:
        assert svc.exchange_advance(exchange_id=exchange_id) == svc.Outcome.DONE

    def in_thread(work):
        def run(chunk):
            try:
                return [work(item) for item in chunk]
            finally:
                connection.set_schema_to_public()
                connections.close_all()
        return run

    # when: 32 threads ask at once (all asks land before the first unit is taken), then 32 threads drive all
    # 1,000 exchanges at once in random order
    with ThreadPoolExecutor(max_workers=32) as pool:
        exchange_ids = [i for chunk in pool.map(in_thread(request), [jobs[i::32] for i in range(32)])
                        for i in chunk]
    random.shuffle(exchange_ids)
    racing.set()
    watcher = threading.Thread(target=watch_stock)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            list(pool.map(in_thread(drive), [exchange_ids[i::32] for i in range(32)]))
    finally:
        racing.clear()
        watcher.join()

    # then: exactly 10 fulfilled, the rest undone as sold out, no points lost, stock never negative
    exchanges = Exchange.objects.filter(offer=offer)
    assert exchanges.count() == MEMBERS
    fulfilled = exchanges.filter(status=Exchange.Status.FULFILLED)
    assert fulfilled.count() == UNITS
    undone = exchanges.filter(status=Exchange.Status.UNDONE, undo_reason="sold_out")
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
