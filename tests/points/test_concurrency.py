"""Races with real commits: threads with their own database connections on a brand of their own."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from core.errors import Conflict
from points.models import PointsEntry
from points.services import InsufficientPoints, points_earn, points_redeem
from tests.points.ledger_checks import ledger_invariants_assert

THREADS = 40  # the server allows 100 connections, shared with other test runs


def race(brand, jobs: list, threads: int = THREADS) -> list:
    """Run the callables in `jobs` from `threads` threads (each with its own connection), all starting together.
    Returns each job's result or the exception it raised, in job order."""
    results: list = [None] * len(jobs)
    start = threading.Barrier(threads)
    next_job = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker() -> None:
        try:
            with schema_context(brand.schema_name):
                connection.ensure_connection()
                start.wait()
                while True:
                    with lock:
                        index = next(next_job, None)
                    if index is None:
                        return
                    try:
                        results[index] = jobs[index]()
                    except Exception as exc:  # recorded and asserted on by the test
                        results[index] = exc
        finally:
            connection.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in pool)
    return results


@pytest.fixture
def funded_member(new_brand):
    """A fresh brand and a member holding 50 points in three lots, committed."""
    from members.models import Member

    brand = new_brand("pts")
    with schema_context(brand.schema_name):
        member = Member.objects.create(openid="o-race")
        for i, points in enumerate((20, 20, 10)):
            points_earn(member=member, points=points, idempotency_key=f"seed-{i}", reason="seed")
    return brand, member


def test_200_redemptions_race_for_50_points_and_exactly_50_succeed(funded_member):
    brand, member = funded_member
    jobs = [
        lambda i=i: points_redeem(member=member, points=1, idempotency_key=f"race-{i}", reason="coupon")
        for i in range(200)
    ]

    results = race(brand, jobs)

    kinds = Counter(type(result).__name__ for result in results)
    assert kinds == {"PointsEntry": 50, "InsufficientPoints": 150}, kinds
    with schema_context(brand.schema_name):
        assert ledger_invariants_assert(member) == 0
        assert PointsEntry.objects.filter(member=member, kind="redeem").count() == 50


def test_the_same_request_retried_concurrently_is_applied_once(funded_member):
    brand, member = funded_member
    jobs = [lambda: points_redeem(member=member, points=7, idempotency_key="one-key", reason="coupon")] * 60

    results = race(brand, jobs)

    assert all(not isinstance(result, Exception) for result in results), results
    assert len({result.pk for result in results}) == 1
    assert sum(1 for result in results if not result.replayed) == 1
    with schema_context(brand.schema_name):
        assert ledger_invariants_assert(member) == 43


def test_mixed_earn_and_redeem_race_keeps_the_invariants(funded_member):
    brand, member = funded_member
    jobs = []
    for i in range(150):
        if i % 3 == 0:
            jobs.append(lambda i=i: points_earn(member=member, points=2, idempotency_key=f"e-{i}", reason="order"))
        else:
            jobs.append(lambda i=i: points_redeem(member=member, points=3, idempotency_key=f"r-{i}", reason="c"))
    # The same key as an entry applied before the race, with other parameters: a 409 in every interleaving.
    jobs += [lambda: points_earn(member=member, points=9, idempotency_key="seed-0", reason="order")] * 5

    results = race(brand, jobs)

    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, (InsufficientPoints, Conflict))]
    assert unexpected == []
    assert sum(isinstance(r, Conflict) for r in results) == 5
    redeemed = sum(3 for r in results if isinstance(r, PointsEntry) and r.kind == "redeem")
    with schema_context(brand.schema_name):
        assert ledger_invariants_assert(member) == 50 + 50 * 2 - redeemed
