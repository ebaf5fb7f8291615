import pytest
from django_tenants.utils import schema_context

from miniprograms.models import ShopSku

pytestmark = pytest.mark.django_db


def test_member_browses_shops_by_city_and_catalog_with_shop_prices(world, member_client):
    client = member_client(world, world.alice)

    shops = client.get("/api/v1/mp/shops", {"city": "Hangzhou"}).json()["results"]
    catalog = client.get(f"/api/v1/mp/shops/{world.shop1.pk}/catalog").json()

    assert {s["store_code"] for s in shops} == {"S1", "S2"}
    assert catalog["results"][0]["price_fen"] == 900 and catalog["results"][0]["list_price_fen"] == 1000
    assert catalog["results"][0]["stock"] == 10


def test_closed_shop_is_404(world, member_client):
    with schema_context(world.schema):
        world.shop.is_open = False
        world.shop.save(update_fields=["is_open"])
    response = member_client(world, world.alice).get(f"/api/v1/mp/shops/{world.shop.pk}/catalog")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


def test_brand_b_member_cannot_see_brand_a_shop(world, world_b, member_client, client_for):
    token_b = world_b.tokens[world_b.alice.pk]

    on_a_host = client_for(world.brand).as_member(token_b).get(f"/api/v1/mp/shops/{world.shop.pk}/catalog")
    on_b_host = member_client(world_b, world_b.alice).get(f"/api/v1/mp/shops/{world_b.shop.pk}/catalog").json()

    assert on_a_host.status_code == 401
    assert [i["sku_code"] for i in on_b_host["results"]] == [world_b.sku.code] != [world.sku.code]


def test_store_manager_edits_only_their_franchisees_shops(world, manager_client):
    m1 = manager_client(world, "m1")

    listed = m1.get("/api/v1/console/shops").json()["results"]
    own = m1.put(
        f"/api/v1/console/shops/{world.shop1.pk}/skus/{world.sku.pk}", {"stock": 5, "price_fen": 800}, format="json"
    )
    other = m1.put(f"/api/v1/console/shops/{world.shop2.pk}/skus/{world.sku.pk}", {"stock": 5}, format="json")
    other_patch = manager_client(world, "m2").patch(
        f"/api/v1/console/shops/{world.shop1.pk}", {"is_open": False}, format="json"
    )

    assert [s["id"] for s in listed] == [world.shop1.pk]
    assert own.status_code == 200 and own.json()["stock"] == 5 and own.json()["price_fen"] == 800
    assert other.status_code == 404 and other.json()["error"]["code"] == "not_found"
    assert other_patch.status_code == 404


def test_store_manager_cannot_create_products_or_push(world, manager_client):
    m1 = manager_client(world, "m1")
    assert m1.post("/api/v1/console/products", {}, format="json").status_code == 403
    assert (
        m1.post(
            f"/api/v1/console/products/{world.product.pk}/push", {"shop_ids": [world.shop1.pk]}, format="json"
        ).status_code
        == 403
    )


def test_hq_creates_product_and_pushes_it_to_many_shops(world, hq_client):
    hq = hq_client(world)
    created = hq.post(
        "/api/v1/console/products",
        {
            "name": "Oolong",
            "category_id": world.category.pk,
            "skus": [
                {"code": "OO-1", "price_fen": 2500, "attributes": {"size": "100g"}},
                {"code": "OO-2", "price_fen": 4500},
            ],
        },
        format="json",
    )
    product_id = created.json()["id"]

    pushed = hq.post(
        f"/api/v1/console/products/{product_id}/push",
        {"shop_ids": [world.shop.pk, world.shop1.pk, world.shop2.pk], "stock": 20},
        format="json",
    )

    assert created.status_code == 201
    assert pushed.json() == {"written": 6}
    with schema_context(world.schema):
        assert ShopSku.objects.filter(sku__product_id=product_id, stock=20).count() == 6


def test_bad_input_gets_validation_error_shape(world, hq_client):
    response = hq_client(world).post(
        "/api/v1/console/products", {"name": "X", "skus": [{"code": "A", "price_fen": -1}]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error" and "skus" in response.json()["error"]["fields"]
