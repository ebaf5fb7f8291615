"""Exchanges driven by a real Celery worker process: end to end, and a worker killed mid-exchange."""

from __future__ import annotations

import psycopg2
from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from points.models import PointsEntry
from rights_market.brandside.models import Voucher
from rights_market.models import ClearingLine, Exchange
from rights_market.services.exchanges import exchanges_resume_stuck
from tests.helpers import wait_until
from tests.rights_market.factories import balance_of, exchange_requested, listing_make, member_make, offer_make

S = Exchange.Status


def _status(exchange_id: int) -> str:
    return Exchange.objects.filter(pk=exchange_id).values_list("status", flat=True).get()


def _raw_connection():
    db = settings.DATABASES["default"]
    params = {
        "dbname": db["NAME"],
        "user": db.get("USER"),
        "password": db.get("PASSWORD"),
        "host": db.get("HOST"),
        "port": db.get("PORT"),
    }
    return psycopg2.connect(**{k: v for k, v in params.items() if v})


def test_a_request_is_fulfilled_by_the_worker(new_brand, celery_worker_process):
    issuer, acceptor = new_brand("iss"), new_brand("acc")
    listing = listing_make(acceptor, offer_make(issuer, stock=5), points_price=120)
    member = member_make(acceptor, points=200)
    connection.set_schema_to_public()

    exchange = exchange_requested(acceptor, member, listing)  # committed: the driver is queued at once

    wait_until(lambda: _status(exchange.pk) == S.FULFILLED, message="exchange fulfilled")
    with schema_context(issuer.schema_name):
        assert Voucher.objects.filter(exchange_id=exchange.pk).count() == 1
    assert balance_of(acceptor, member.pk) == 80
    connection.set_schema_to_public()


def _sweep() -> tuple[int, list[int]]:
    """Run the sweeper; return its count and the exchange ids it queued a driver for."""
    from celery.signals import before_task_publish

    driven: list[int] = []

    def record(sender=None, body=None, **_):
        if sender == "rights_market.exchange_drive":
            driven.append(body[0][0])  # (args, kwargs, embed)

    before_task_publish.connect(record, weak=False)
    try:
        count = exchanges_resume_stuck(older_than_seconds=0)
    finally:
        before_task_publish.disconnect(record)
    return count, driven


def test_worker_killed_mid_fulfilment_resumes_once(new_brand, celery_worker_process):
    # given: the issuer's voucher table locked, so the worker's fulfil step hangs inside its transaction
    issuer, acceptor = new_brand("iss"), new_brand("acc")
    listing = listing_make(acceptor, offer_make(issuer, stock=5), points_price=120)
    member = member_make(acceptor, points=200)
    connection.set_schema_to_public()
    table = f'"{issuer.schema_name}"."{Voucher._meta.db_table}"'
    blocker = _raw_connection()
    ops = _raw_connection()
    ops.autocommit = True
    try:
        with blocker.cursor() as cur:
            cur.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        exchange = exchange_requested(acceptor, member, listing)

        def worker_waits_on_lock() -> bool:
            with ops.cursor() as cur:
                cur.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table])
                return cur.fetchone()[0] > 0

        wait_until(worker_waits_on_lock, timeout=30, message="the worker blocked in the fulfil step")
        assert _status(exchange.pk) == S.STOCK_TAKEN

        # when: the worker dies (SIGKILL) mid-step; its database session goes with it
        celery_worker_process.kill()
        with ops.cursor() as cur:  # what the server does when it notices the client is gone
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table]
            )
        wait_until(lambda: not worker_waits_on_lock(), timeout=10, message="the dead session ended")
        blocker.rollback()
        assert _status(exchange.pk) == S.STOCK_TAKEN  # nothing of the step was committed

        # then: a new worker and the sweeper finish it, once
        celery_worker_process.restart()
        count, driven = _sweep()
        assert exchange.pk in driven and count == len(driven)
        wait_until(lambda: _status(exchange.pk) == S.FULFILLED, message="exchange fulfilled")
        # a second sweep finds nothing to do for it (other tests' exchanges may be stuck in this database)
        count, driven = _sweep()
        assert exchange.pk not in driven and count == len(driven)
    finally:
        blocker.close()
        ops.close()
    with schema_context(issuer.schema_name):
        assert Voucher.objects.filter(exchange_id=exchange.pk).count() == 1
    with schema_context(acceptor.schema_name):
        assert PointsEntry.objects.filter(member_id=member.pk, kind="redeem").count() == 1
    assert balance_of(acceptor, member.pk) == 80
    assert ClearingLine.objects.filter(exchange_id=exchange.pk).count() == 1
    connection.set_schema_to_public()
