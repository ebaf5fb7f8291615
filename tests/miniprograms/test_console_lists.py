"""Console lists are cursor pages (never cut silently), and the split refund decisions keep their answers."""

import pytest
from django_tenants.utils import schema_context

from miniprograms.models import Shop

pytestmark = pytest.mark.django_db


def _walk(client, url: str) -> list[dict]:
    """Every row of a cursor-paged list, one row a page."""
    rows, page = [], client.get(url, {"page_size": 1}).json()
    while True:
        rows += page["results"]
        if not page["next"]:
            return rows
        page = client.get(page["next"]).json()


def test_shops_are_paged_and_scoped(world, world_b, hq_client, manager_client):
    # given: brand B has a shop of its own
    with schema_context(world_b.schema):
        Shop.objects.create(store=world_b.s1, name="Only in B")

    # when HQ and a store manager of brand A walk the shop list one row a page
    hq_rows = _walk(hq_client(world), "/api/v1/console/shops")
    m1_rows = _walk(manager_client(world, "m1"), "/api/v1/console/shops")

    # then HQ sees the brand's three shops newest first, the manager only their franchisee's, nobody brand B's
    assert [r["id"] for r in hq_rows] == [world.shop2.pk, world.shop1.pk, world.shop.pk]
    assert [r["name"] for r in m1_rows] == ["Shop one"]
    assert "Only in B" in [r["name"] for r in _walk(hq_client(world_b), "/api/v1/console/shops")]


def test_products_are_paged(world, hq_client):
    client = hq_client(world)
    for n in range(3):
        created = client.post(
            "/api/v1/console/products",
            {"name": f"P{n}", "skus": [{"code": f"P{n}-A", "price_fen": 100 + n}]},
            format="json",
        )
        assert created.status_code == 201

    rows = _walk(client, "/api/v1/console/products")

    assert [r["name"] for r in rows] == ["P2", "P1", "P0", "Green tea"]
    assert rows[0]["skus"][0]["price_fen"] == 102


def test_a_shop_sku_answer_is_the_shop_price(world, manager_client):
    response = manager_client(world, "m1").put(
        f"/api/v1/console/shops/{world.shop1.pk}/skus/{world.sku.pk}", {"stock": 7, "price_fen": None}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {
        "shop_id": world.shop1.pk,
        "sku_id": world.sku.pk,
        "price_fen": None,
        "stock": 7,
        "on_sale": True,
    }


def test_a_member_walks_the_shops_in_store_code_order(world, world_b, member_client):
    # given: more shops in one store than fit a page, and a shop of brand B
    with schema_context(world.schema):
        extra = [Shop.objects.create(store=world.s1, name=f"Pop-up {n}") for n in range(3)]
    with schema_context(world_b.schema):
        Shop.objects.create(store=world_b.s1, name="Only in B")

    rows = _walk(member_client(world, world.alice), "/api/v1/mp/shops")

    # then every open shop of brand A comes once, by store code then age; none of brand B
    assert [r["store_code"] for r in rows] == ["S0", "S1", "S1", "S1", "S1", "S2"]
    assert [r["id"] for r in rows if r["store_code"] == "S1"] == [world.shop1.pk] + [s.pk for s in extra]
    assert "Only in B" not in [r["name"] for r in rows]
