"""An earn asks for the member's tier check through a mark on its account row (points_credit, migration 0007), not
through Redis: one check queued per burst, and the check sees every earn that found the mark set, even one in
flight when the check started. Real commits, on a brand of their own; the Celery send is recorded, not made."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from core.tasks import task_named
from members.models import Member
from members.services.tiers import member_tier_refresh, tier_check_mark_ttl_seconds
from points.models import PointsAccount
from points.services import points_adjust, points_earn

CREDIT_SQL = (
    "SELECT entry_id, tier_check_due FROM points_credit(%s, %s, %s, %s, %s, '', 'r', NULL, now(), NULL, true, %s)"
)


@pytest.fixture
def marked(new_brand):
    """A fresh brand (committed data) whose test body runs in its schema, a member, and the tier checks queued
    (member ids, in order) with the Celery send replaced by a recorder."""
    brand = new_brand("tmark", with_app=False)
    sent: list[int] = []
    task = task_named("members.tier_refresh")
    with schema_context(brand.schema_name):
        member = Member.objects.create(openid="o-tier-mark")
        with mock.patch.object(task, "apply_async", side_effect=lambda args, **kw: sent.append(args[0])):
            yield brand, member, sent


def _mark(member) -> object:
    return PointsAccount.objects.values_list("tier_check_asked_at", flat=True).get(member=member)


def _blocked_on_a_lock(pid: int, deadline: float = 30.0) -> None:
    """Wait until backend `pid` waits for a lock (observed, not slept on)."""
    with connection.cursor() as cursor:
        until = time.monotonic() + deadline
        while time.monotonic() < until:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(0.01)
    pytest.fail(f"backend {pid} never waited for a lock")


def test_a_burst_of_earnings_queues_one_check_until_the_check_starts(marked):
    brand, member, sent = marked

    for i in range(3):  # each commits on its own
        points_earn(member=member, points=10, idempotency_key=f"burst-{i}", reason="order")
    assert sent == [member.pk]  # the first asked; the two after it found the mark

    refreshed = member_tier_refresh(member_id=member.pk)  # what the queued task runs: clears the mark, then reads
    assert refreshed.earned_points_12m == 30
    assert _mark(member) is None

    points_earn(member=member, points=10, idempotency_key="after", reason="order")
    assert sent == [member.pk, member.pk]  # an earn after the check started asks for a check of its own


def test_credits_that_are_not_earnings_ask_for_no_check(marked):
    from django.contrib.auth import get_user_model

    brand, member, sent = marked
    staff = get_user_model().objects.get(username="hq")

    points_adjust(member=member, points=5, idempotency_key="adj", reason="goodwill", actor=staff)

    assert sent == []
    assert _mark(member) is None


def test_an_earn_in_flight_when_the_check_starts_is_seen_by_the_check(marked):
    brand, member, sent = marked
    points_earn(member=member, points=100, idempotency_key="first", reason="order")  # sets the mark, asks
    assert sent == [member.pk]
    earned, check_pid, result = threading.Event(), [], {}
    may_commit = threading.Event()

    def earn_and_hold() -> None:  # an earn that found the mark set, not yet committed
        try:
            with schema_context(brand.schema_name), transaction.atomic():
                points_earn(member=member, points=7, idempotency_key="in-flight", reason="order")
                earned.set()
                assert may_commit.wait(60)
        finally:
            connection.close()

    def check() -> None:
        try:
            with schema_context(brand.schema_name):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    check_pid.append(cursor.fetchone()[0])
                assert earned.wait(60)
                result["member"] = member_tier_refresh(member_id=member.pk)
        finally:
            connection.close()

    holder, checker = threading.Thread(target=earn_and_hold), threading.Thread(target=check)
    holder.start()
    checker.start()
    try:
        assert earned.wait(60)
        while not check_pid:
            time.sleep(0.01)
        _blocked_on_a_lock(check_pid[0])  # the check's clear waits for the earn in flight ...
    finally:
        may_commit.set()
        holder.join(60)
        checker.join(60)

    assert sent == [member.pk]  # the earn in flight asked for nothing: the check already queued covers it
    assert result["member"].earned_points_12m == 107  # ... so the figures it read include that earn


def test_a_mark_older_than_the_ttl_is_a_lost_check_and_the_next_earn_asks_again(marked):
    brand, member, sent = marked
    points_earn(member=member, points=10, idempotency_key="a", reason="order")
    stale = timezone.now() - timedelta(seconds=tier_check_mark_ttl_seconds() + 5)
    PointsAccount.objects.filter(member=member).update(tier_check_asked_at=stale)  # its check never came

    points_earn(member=member, points=10, idempotency_key="b", reason="order")

    assert sent == [member.pk, member.pk]
    assert _mark(member) > stale


def test_a_failed_send_clears_the_mark_so_the_next_earn_asks_again(marked, caplog):
    brand, member, sent = marked
    task = task_named("members.tier_refresh")
    with mock.patch.object(task, "apply_async", side_effect=ConnectionError("broker down")):
        entry = points_earn(member=member, points=10, idempotency_key="down", reason="order")
    assert entry.balance_after == 10  # the points are committed all the same (the failure is logged)
    assert _mark(member) is None

    points_earn(member=member, points=10, idempotency_key="up", reason="order")

    assert sent == [member.pk]


def test_an_earn_whose_key_was_taken_meanwhile_leaves_no_mark(marked):
    """Two credits race for one key: the second is blocked on the account's row lock after its probe found no
    entry; the first (asking for no tier check: it leaves the mark alone) commits; the second, an earning, sets the mark,
    then finds its key taken and undoes everything, the mark included (no check was queued for it)."""
    brand, member, sent = marked
    points_earn(member=member, points=1, idempotency_key="open", reason="order")  # the account exists
    member_tier_refresh(member_id=member.pk)
    assert _mark(member) is None
    first_in, second_pid, outcome = threading.Event(), [], {}
    may_commit = threading.Event()

    def first() -> None:
        try:
            with schema_context(brand.schema_name), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(CREDIT_SQL, [member.pk, "earn", 3, "same-key", "fp", None])  # no tier TTL
                first_in.set()
                assert may_commit.wait(60)
        finally:
            connection.close()

    def second() -> None:
        try:
            with schema_context(brand.schema_name), connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                second_pid.append(cursor.fetchone()[0])
                assert first_in.wait(60)
                cursor.execute(CREDIT_SQL, [member.pk, "earn", 5, "same-key", "fp", 60])
                outcome["row"] = cursor.fetchone()
        finally:
            connection.close()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    try:
        assert first_in.wait(60)
        while not second_pid:
            time.sleep(0.01)
        _blocked_on_a_lock(second_pid[0])
    finally:
        may_commit.set()
        for thread in threads:
            thread.join(60)

    assert outcome["row"] == (None, False)  # key taken: no entry, no check due
    assert _mark(member) is None
    assert PointsAccount.objects.get(member=member).balance == 4
