"""core.sql_writes.insert_with_children writes an order, its lines and its first event in one statement: the same
rows the ORM's saves write, the instances marked saved with their ids; and through the ORM when a pre_save or
post_save listener would be told."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import schema_context

from core.sql_writes import insert_with_children
from miniprograms.models import Order, OrderEvent, OrderLine
from tests.miniprograms.conftest import build_world


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat, stock=5)


NOW = timezone.now()


def _unsaved(world, number: str, now=NOW):
    order = Order(
        number=number,
        shop=world.shop,
        store=world.shop.store,
        member=world.alice,
        appid="wx-insert",
        subtotal_fen=3000,
        total_fen=3000,
        delivery_address={"city": "上海"},
        created_at=now,
        expires_at=now + timedelta(minutes=30),
    )
    lines = [
        OrderLine(
            order=order,
            sku=world.sku,
            shop_sku=world.entry,
            product_name="Tea",
            sku_code=world.sku.code,
            attributes={"size": str(q)},
            unit_price_fen=1000,
            quantity=q,
            total_fen=1000 * q,
        )
        for q in (1, 2)
    ]
    return order, lines, OrderEvent(order=order, status="placed", note="", created_at=now)


def _rows(order) -> tuple:
    skip = {"id", "number", "order_id"}
    return (
        {k: v for k, v in Order.objects.filter(pk=order.pk).values()[0].items() if k not in skip},
        [{k: v for k, v in r.items() if k not in skip} for r in OrderLine.objects.filter(order=order).values()],
        [{k: v for k, v in r.items() if k not in skip} for r in OrderEvent.objects.filter(order=order).values()],
    )


def test_one_statement_writes_what_the_orm_writes(world, brand_a):
    with schema_context(brand_a.schema_name):
        by_orm, lines, event = _unsaved(world, "INS-ORM")
        by_orm.save(force_insert=True)
        for row in (*lines, event):
            row.order = by_orm
            row.save(force_insert=True)
        order, lines, event = _unsaved(world, "INS-ONE")

        with CaptureQueriesContext(connection) as queries:
            insert_with_children(order, [*((line, "order") for line in lines), (event, "order")])

        assert len([q for q in queries if not q["sql"].startswith("SET search_path")]) == 1
        assert _rows(order) == _rows(by_orm)
        for row in (order, *lines, event):
            assert row.pk is not None and (row._state.adding, row._state.db) == (False, "default")
        assert {line.order_id for line in lines} == {event.order_id} == {order.pk}
        assert sorted(line.pk for line in lines) == list(
            OrderLine.objects.filter(order=order).values_list("pk", flat=True)
        )


def test_a_save_listener_is_told(world, brand_a):
    told = []

    def listener(sender, instance, created, **kwargs):
        told.append((sender.__name__, created, instance.pk is not None))

    with schema_context(brand_a.schema_name):
        order, lines, event = _unsaved(world, "INS-TOLD")
        post_save.connect(listener, sender=OrderEvent)
        try:
            insert_with_children(order, [*((line, "order") for line in lines), (event, "order")])
        finally:
            post_save.disconnect(listener, sender=OrderEvent)
        assert told == [("OrderEvent", True, True)]
        assert OrderLine.objects.filter(order=order).count() == 2
