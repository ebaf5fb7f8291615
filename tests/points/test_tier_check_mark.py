"""An earn asks for the member's tier check through a mark on its account row (points_credit, migration 0007), not
through Redis: one check per burst, and the check sees every earn that found the mark set, even one in flight when
the check started. The marks are checked by the brand's sweep (members.tier_checks_run), queued once for a burst of
marks of any number of members. Real commits, on a brand of their own; the Celery send of the sweep is recorded,
not made (except where the broker is really unreachable)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import schema_context

from core.redis_client import redis_client
from core.tasks import _queued_until, coalesce_key, task_named
from members.models import Member
from members.services.tiers import (
    TIER_CHECKS,
    member_tier_checks_run,
    member_tier_refresh,
    tier_check_mark_ttl_seconds,
)
from points.models import PointsAccount
from points.services import points_adjust, points_earn

CREDIT_SQL = (
    "SELECT entry_id, tier_check_due FROM points_credit(%s, %s, %s, %s, %s, '', 'r', NULL, now(), NULL, true, %s)"
)


@pytest.fixture
def marked(new_brand):
    """A fresh brand (committed data) whose test body runs in its schema, a member, and the sweeps of tier checks
    queued (the brand's schema, once a sweep) with the Celery send replaced by a recorder."""
    brand = new_brand("tmark", with_app=False)
    sent: list[str] = []
    task = task_named("members.tier_checks_run")
    with schema_context(brand.schema_name):
        member = Member.objects.create(openid="o-tier-mark")
        with mock.patch.object(task, "apply_async", side_effect=lambda *a, schema, **kw: sent.append(schema)):
            yield brand, member, sent


def _sweep_lost(brand) -> None:
    """What a lost sweep leaves behind once its coalescing key expired: nothing in Redis, nothing in this process."""
    key = coalesce_key(brand.schema_name, TIER_CHECKS, 0)
    redis_client().delete(key)
    _queued_until.pop(key)


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
    assert sent == [brand.schema_name]  # the first asked; the two after it found the mark

    assert member_tier_checks_run() == (1, False)  # what the queued sweep runs: clears the mark, then reads
    assert Member.objects.get(pk=member.pk).earned_points_12m == 30
    assert _mark(member) is None

    points_earn(member=member, points=10, idempotency_key="after", reason="order")
    assert sent == [brand.schema_name] * 2  # an earn after the check started asks for a check of its own
    assert member_tier_checks_run() == (1, False)
    assert Member.objects.get(pk=member.pk).earned_points_12m == 40


def test_a_burst_of_earnings_of_many_members_queues_one_sweep_which_checks_each_once(marked):
    brand, member, sent = marked
    others = [Member.objects.create(openid=f"o-tier-many-{i}") for i in range(4)]

    for i, someone in enumerate([member, *others, member, *others]):  # two earnings each, each committed
        points_earn(member=someone, points=10, idempotency_key=f"many-{i}", reason="order")

    assert sent == [brand.schema_name]  # one sweep for the brand, queued by the first; no send for the nine after
    assert member_tier_checks_run(limit=3) == (3, True)  # a batch of the oldest marks; more are left
    assert member_tier_checks_run(limit=3) == (2, False)
    assert member_tier_checks_run() == (0, False)  # each member checked once
    figures = Member.objects.filter(pk__in=[member.pk] + [m.pk for m in others]).values_list("earned_points_12m")
    assert sorted(figures) == [(20,)] * 5
    assert PointsAccount.objects.filter(tier_check_asked_at__isnull=False).count() == 0


def test_a_check_that_fails_is_marked_again_for_the_next_sweep(marked, caplog):
    brand, member, sent = marked
    points_earn(member=member, points=10, idempotency_key="fails", reason="order")

    with mock.patch("members.services.tiers.member_trailing_12m", side_effect=RuntimeError("bug")):
        assert member_tier_checks_run() == (0, False)
    assert _mark(member) is not None  # cleared by the check, put back when it failed
    assert "marked again" in caplog.text

    assert member_tier_checks_run() == (1, False)
    assert Member.objects.get(pk=member.pk).earned_points_12m == 10


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
    assert sent == [brand.schema_name]
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

    assert sent == [brand.schema_name]  # the earn in flight asked for nothing: the check already queued covers it
    assert result["member"].earned_points_12m == 107  # ... so the figures it read include that earn


def test_a_mark_older_than_the_ttl_is_a_lost_check_and_the_next_earn_asks_again(marked):
    brand, member, sent = marked
    points_earn(member=member, points=10, idempotency_key="a", reason="order")
    stale = timezone.now() - timedelta(seconds=tier_check_mark_ttl_seconds() + 5)
    PointsAccount.objects.filter(member=member).update(tier_check_asked_at=stale)  # its check never came ...
    _sweep_lost(brand)  # ... nor its sweep

    points_earn(member=member, points=10, idempotency_key="b", reason="order")

    assert sent == [brand.schema_name] * 2
    assert _mark(member) > stale


def test_a_failed_send_leaves_the_mark_for_the_sweep(marked, broker_unreachable, caplog):
    """The broker really unreachable (a closed port) when the earn's transaction commits: the earn stands, nothing
    is raised out of the commit, the failure is logged and the mark stays, so the sweep beat runs checks it."""
    brand, member, sent = marked
    task = task_named("members.tier_checks_run")
    tried = []

    def real_send(*args, **kwargs):  # the real send (the fixture's recorder aside), observed
        tried.append(kwargs["schema"])
        return type(task).apply_async(task, *args, **kwargs)

    with mock.patch.object(task, "apply_async", side_effect=real_send):
        with transaction.atomic():  # the shape of the pay path: the earn inside an outer transaction
            entry = points_earn(member=member, points=10, idempotency_key="down", reason="order")
    assert tried == [brand.schema_name]  # it was tried, and failed
    assert sent == []
    assert entry.balance_after == 10 and PointsAccount.objects.get(member=member).balance == 10
    assert "not queued" in caplog.text and "OperationalError" in caplog.text  # the broker, not the message
    assert _mark(member) is not None
    assert redis_client().get(coalesce_key(brand.schema_name, TIER_CHECKS, 0)) is None  # the next due change asks

    assert member_tier_checks_run() == (1, False)  # what beat's sweep runs
    assert Member.objects.get(pk=member.pk).earned_points_12m == 10
    assert _mark(member) is None


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
