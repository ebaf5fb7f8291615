"""core.sql_reads builds a row's instances as Model.from_db does (the same attribute values and state), without
Model.__init__ where nothing would notice, and through from_db where something would (a pre_init or post_init
listener, a model's own from_db)."""

from __future__ import annotations

from django.db.models.signals import post_init
from django_tenants.utils import schema_context

from core.sql_reads import JoinedRead
from members.models import Member, Store
from miniprograms.models import Order

_read = JoinedRead(
    models=[("o", Order), ("m", Member), ("s", Store)],
    attach=[("o", "member", "m"), ("o", "store", "s")],
    tail='FROM {o} JOIN {m} ON m."id" = o."member_id" JOIN {s} ON s."id" = o."store_id" WHERE o."id" = %s',
)


def _state(obj) -> tuple:
    return type(obj), obj._state.adding, obj._state.db


def test_instances_equal_what_from_db_builds_and_listeners_are_told(brand_a):
    with schema_context(brand_a.schema_name):
        store = Store.objects.create(code="SR1", name="Reads")
        member = Member.objects.create(openid="o-sql-reads", phone="13800000042")
        placed = Order.objects.create(number="SR-1", store=store, member=member, subtotal_fen=5, total_fen=5)
        expected = Order.objects.select_related("member", "store").get(pk=placed.pk)

        order = _read([placed.pk])[0]

        for got, want in ((order, expected), (order.member, expected.member), (order.store, expected.store)):
            assert _state(got) == _state(want) == (type(want), False, "default")
            assert {k: v for k, v in got.__dict__.items() if k != "_state"} == {
                k: v for k, v in want.__dict__.items() if k != "_state"
            }
        assert order.member.phone == "13800000042"  # an encrypted field, converted

        told = []

        def listener(sender, instance, **kwargs):
            told.append(type(instance).__name__)

        post_init.connect(listener, sender=Member)
        try:
            order = _read([placed.pk])[0]
        finally:
            post_init.disconnect(listener, sender=Member)
        assert told == ["Member"] and order.member.phone == "13800000042"
