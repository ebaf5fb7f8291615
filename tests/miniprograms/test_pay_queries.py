"""What a pay notification costs in statements, on the shops' side (the points it earns are the points app's)."""

from __future__ import annotations

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from miniprograms.models import Order
from miniprograms.services.payments import order_mark_paid_from_notification
from tests.miniprograms.test_order_place_queries import _statement_kind

POINTS = re.compile(r'(FROM|INTO|UPDATE|JOIN) "?points_|points_(credit|debit)\(')  # the points app's statements


def test_a_pay_notification_reads_the_app_and_locks_the_order_with_one_statement_each(
    world, member_client, fake_wechat
):
    alice = member_client(world, world.alice)
    order_id = alice.post(
        "/api/v1/mp/orders", {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]}, "json"
    ).json()["id"]
    assert alice.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200
    with schema_context(world.schema):
        data = fake_wechat.pay_notification(Order.objects.get(pk=order_id).number)
        with CaptureQueriesContext(connection) as queries:
            assert order_mark_paid_from_notification(data=data) == "paid"
        kinds = [
            _statement_kind(q["sql"])
            for q in queries
            if not q["sql"].startswith("SET search_path") and not POINTS.search(q["sql"])
        ]
        assert kinds == [
            'SELECT a."id",',  # the mini-program's app and brand (payments.gateways._app)
            "SAVEPOINT",  # (the test's transaction stands in for the BEGIN)
            'SELECT o."id",',  # the order, locked, with member, tier and store (selectors.order_lock_by_number)
            "WITH p",  # the order paid and its "paid" event (services.payments._paid_write)
            "RELEASE SAVEPOINT",
        ], kinds
        assert Order.objects.get(pk=order_id).status == Order.Status.PAID
