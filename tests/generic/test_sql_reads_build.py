"""core.sql_reads builds a row's instances as Model.from_db does (the same attribute values and state), without
Model.__init__ where nothing would notice, and through from_db where something would (a pre_init or post_init
listener, a model's own from_db). On the platform's rows (a mini-program and its brand): a brand's member table is
left alone, whose planner statistics other tests depend on."""

from __future__ import annotations

from django.db.models.signals import post_init

from core.sql_reads import JoinedRead
from tenants.models import Brand, WeChatApp
from tenants.services import wechat_app_add

_read = JoinedRead(
    models=[("a", WeChatApp), ("b", Brand)],
    attach=[("a", "brand", "b")],
    tail='FROM {a} JOIN {b} ON b."id" = a."brand_id" WHERE a."appid" = %s',
)


def _state(obj) -> tuple:
    return type(obj), obj._state.adding, obj._state.db


def _attributes(obj) -> dict:
    return {k: v for k, v in obj.__dict__.items() if k != "_state"}


def test_instances_equal_what_from_db_builds_and_listeners_are_told(brand_a):
    app = wechat_app_add(brand=brand_a, appid="wxsqlreads0001", secret="s", token="t", mch_id="19", mch_key="m" * 32)
    expected = WeChatApp.objects.select_related("brand").get(pk=app.pk)

    got = _read([app.appid])[0]

    for built, want in ((got, expected), (got.brand, expected.brand)):
        assert _state(built) == _state(want) == (type(want), False, "default")
        assert _attributes(built) == _attributes(want)
    assert got.mch_key == "m" * 32  # an encrypted field, converted

    told = []

    def listener(sender, instance, **kwargs):
        told.append(type(instance).__name__)

    post_init.connect(listener, sender=Brand)
    try:
        got = _read([app.appid])[0]
    finally:
        post_init.disconnect(listener, sender=Brand)
    assert told == ["Brand"] and got.brand.slug == brand_a.slug and got.mch_key == "m" * 32
