"""Live metrics through analytics: livestream.metrics' figures per show and per period, rates as fractions,
scoped like the console (a store manager sees their stores' shows only)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django_tenants.utils import schema_context

from tests.conftest import BRAND_PASSWORD
from tests.livestream.factories import ended_room, viewer
from tests.miniprograms.conftest import PW
from tests.miniprograms.conftest import build_world as shop_world


def test_live_figures_per_show_and_period_scoped_to_the_managers_stores(brand_a, fake_wechat, client_for):
    w = shop_world(brand_a, fake_wechat)
    with schema_context(w.schema):
        store_show = ended_room(ended_ago=dt.timedelta(hours=1), store=w.s1)
        brand_show = ended_room(ended_ago=dt.timedelta(hours=2))
        viewer(store_show, openid=w.alice.openid, member=w.alice, watch_seconds=600, likes=5)
        viewer(store_show, openid=w.bob.openid, member=w.bob, watch_seconds=300)
        viewer(brand_show, openid=w.bob.openid, member=w.bob, watch_seconds=100, comments=1)
    today = timezone.localdate()
    params = {"from": str(today - dt.timedelta(days=1)), "to": str(today), "grain": "day"}

    hq = client_for(w.brand).as_staff(f"{w.brand.slug}-hq", BRAND_PASSWORD)
    body = hq.get("/api/v1/console/analytics/live", params).json()
    assert body["available"] is True
    assert (body["total"]["rooms"], body["total"]["unique_viewers"]) == (2, 2)
    assert body["total"]["like_rate"] == {"numerator": 1, "denominator": 3}
    assert {r["room_id"] for r in body["rooms"]} == {store_show.pk, brand_show.pk}
    assert sum(p["rooms"] for p in body["periods"]) == 2 and len(body["periods"]) == 2

    for user, rooms in (("m1", {store_show.pk}), ("m2", set())):
        mine = client_for(w.brand).as_staff(user, PW).get("/api/v1/console/analytics/live", params).json()
        assert {r["room_id"] for r in mine["rooms"]} == rooms
