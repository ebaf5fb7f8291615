"""Who sees and does what: two brands, two store managers of different franchisees, members of two stores."""

from __future__ import annotations

from django_tenants.utils import schema_context

from livestream.services.settings import live_settings_update
from tests.livestream.conftest import clean, external_payload


def _allow_managers(w):
    with schema_context(w.schema):
        live_settings_update(store_managers_may_create_rooms=True)


def test_store_managers_create_rooms_only_when_allowed_and_only_for_their_stores(world, hq, manager):
    m1 = manager(world, "m1")
    body = clean(external_payload(store_id=world.s1.pk))
    refused = m1.post("/api/v1/console/live/rooms", body, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "permission_denied")

    assert (
        manager(world, "m1")
        .patch("/api/v1/console/live/settings", {"store_managers_may_create_rooms": True}, format="json")
        .status_code
        == 403
    )  # settings are HQ's
    assert (
        hq(world)
        .patch("/api/v1/console/live/settings", {"store_managers_may_create_rooms": True}, format="json")
        .json()["store_managers_may_create_rooms"]
        is True
    )

    created = m1.post("/api/v1/console/live/rooms", body, format="json")
    assert created.status_code == 201 and created.json()["store_id"] == world.s1.pk
    other_store = m1.post("/api/v1/console/live/rooms", clean(external_payload(store_id=world.s2.pk)), format="json")
    assert other_store.status_code == 404  # another franchisee's store does not exist for m1
    brand_room = m1.post("/api/v1/console/live/rooms", clean(external_payload()), format="json")
    assert (brand_room.status_code, brand_room.json()["error"]["code"]) == (403, "permission_denied")


def test_two_store_managers_see_only_their_rooms(world, hq, manager):
    _allow_managers(world)
    r1 = (
        manager(world, "m1")
        .post("/api/v1/console/live/rooms", clean(external_payload(store_id=world.s1.pk)), format="json")
        .json()
    )
    r2 = (
        manager(world, "m2")
        .post("/api/v1/console/live/rooms", clean(external_payload(store_id=world.s2.pk)), format="json")
        .json()
    )
    brand_room = hq(world).post("/api/v1/console/live/rooms", clean(external_payload()), format="json").json()

    assert [r["id"] for r in manager(world, "m1").get("/api/v1/console/live/rooms").json()["results"]] == [r1["id"]]
    assert [r["id"] for r in manager(world, "m2").get("/api/v1/console/live/rooms").json()["results"]] == [r2["id"]]
    assert {r["id"] for r in hq(world).get("/api/v1/console/live/rooms").json()["results"]} == {
        r1["id"],
        r2["id"],
        brand_room["id"],
    }
    for path in (f"/api/v1/console/live/rooms/{r2['id']}", f"/api/v1/console/live/rooms/{brand_room['id']}"):
        assert manager(world, "m1").get(path).status_code == 404
    assert manager(world, "m1").post(f"/api/v1/console/live/rooms/{r2['id']}/end").status_code == 404
    assert manager(world, "m1").delete(f"/api/v1/console/live/rooms/{r2['id']}").status_code == 404


def test_two_brands_never_see_each_others_rooms(world, world_b, hq):
    a = hq(world).post("/api/v1/console/live/rooms", clean(external_payload(name="Alpha show")), format="json")
    b = hq(world_b).post("/api/v1/console/live/rooms", clean(external_payload(name="Beta show")), format="json")
    assert a.status_code == 201 and b.status_code == 201
    assert [r["name"] for r in hq(world).get("/api/v1/console/live/rooms").json()["results"]] == ["Alpha show"]
    assert [r["name"] for r in hq(world_b).get("/api/v1/console/live/rooms").json()["results"]] == ["Beta show"]
    seen = hq(world).get(f"/api/v1/console/live/rooms/{b.json()['id']}")  # ids are per schema
    assert seen.status_code == 404 or seen.json()["name"] == "Alpha show"
    token_a = world.tokens[world.alice.pk]
    from tests.helpers import BrandClient

    cross = BrandClient(world_b.brand).as_member(token_a).get("/api/v1/mp/live/rooms")
    assert cross.status_code == 401


def test_members_see_brand_rooms_and_their_own_stores(world, hq, manager, member_client):
    _allow_managers(world)
    with schema_context(world.schema):
        world.alice.store = world.s1
        world.alice.save(update_fields=["store"])
    brand_room = (
        hq(world).post("/api/v1/console/live/rooms", clean(external_payload(name="Brand show")), format="json").json()
    )
    s1_room = (
        manager(world, "m1")
        .post(
            "/api/v1/console/live/rooms", clean(external_payload(name="S1 show", store_id=world.s1.pk)), format="json"
        )
        .json()
    )
    s2_room = (
        manager(world, "m2")
        .post(
            "/api/v1/console/live/rooms", clean(external_payload(name="S2 show", store_id=world.s2.pk)), format="json"
        )
        .json()
    )

    alice = member_client(world, world.alice).get("/api/v1/mp/live/rooms").json()["results"]
    bob = member_client(world, world.bob).get("/api/v1/mp/live/rooms").json()["results"]
    assert {r["id"] for r in alice} == {brand_room["id"], s1_room["id"]}
    assert {r["id"] for r in bob} == {brand_room["id"]}
    assert member_client(world, world.alice).get(f"/api/v1/mp/live/rooms/{s2_room['id']}").status_code == 404
    assert "anchor_wechat" not in alice[0]


def test_members_page_through_rooms_soonest_first(world, hq, member_client):
    import datetime as dt

    from django.utils import timezone

    now = timezone.now()
    starts = [5, 1, 3, 3, 2]  # hours from now, created in this order (ids ascending): not the order shown
    names = []
    for i, hours in enumerate(starts):
        start = now + dt.timedelta(hours=hours)
        body = external_payload(
            name=f"Show {i}", start_at=start.isoformat(), end_at=(start + dt.timedelta(hours=1)).isoformat()
        )
        created = hq(world).post("/api/v1/console/live/rooms", clean(body), format="json")
        assert created.status_code == 201, created.json()
        names.append((hours, created.json()["id"], f"Show {i}"))

    alice = member_client(world, world.alice)
    seen, url = [], "/api/v1/mp/live/rooms?page_size=2"
    while url:
        page = alice.get(url).json()
        seen += [r["name"] for r in page["results"]]
        url = page["next"]
    assert seen == [name for _, _, name in sorted(names)]  # by start, then id; every room once
