"""HQ pushes a product to many shops: one set-based statement per batch, as a background job with progress that
resumes where it stopped; re-running a batch is harmless (the upsert is idempotent) and runs are serialised on
the job row."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from miniprograms.models import Product, Shop, ShopPush, ShopSku, Sku
from miniprograms.services.catalog import product_push_to_shops
from miniprograms.services.pushes import shop_push_run, shop_push_start
from tests.helpers import wait_until
from tests.miniprograms.conftest import build_world


def _shops(store, count: int) -> list[Shop]:
    return Shop.objects.bulk_create([Shop(store=store, name=f"shop {i}") for i in range(count)])


def _product(code: str, skus: int = 2) -> Product:
    product = Product.objects.create(name="Jasmine")
    for i in range(skus):
        Sku.objects.create(product=product, code=f"{code}-{i}", price_fen=1000 + i)
    return product


def test_a_push_keeps_a_shops_stock_and_price_unless_given(world):
    with schema_context(world.schema):
        # shop1 carries the SKU at 900 fen with 10 in stock; the flagship at the list price
        written = product_push_to_shops(product=world.product, shop_ids=[world.shop.pk, world.shop1.pk, world.shop2.pk])
        kept = ShopSku.objects.get(shop=world.shop1, sku=world.sku)
        new = ShopSku.objects.get(shop=world.shop2, sku=world.sku)
        product_push_to_shops(product=world.product, shop_ids=[world.shop1.pk], stock=3, price_fen=777)
        changed = ShopSku.objects.get(shop=world.shop1, sku=world.sku)

    assert written == 3
    assert (kept.stock, kept.price_fen, kept.on_sale) == (10, 900, True)
    assert (new.stock, new.price_fen, new.on_sale) == (0, None, True)
    assert (changed.stock, changed.price_fen) == (3, 777)


def test_a_push_resumes_after_the_last_committed_batch(world):
    with schema_context(world.schema):
        _shops(world.hq_store, 7)
        product = _product("RES")
        push = shop_push_start(product=product, stock=5)  # every shop: 3 of the world + 7
        first = shop_push_run(push_id=push.pk, batch=3, max_batches=2)  # then the worker "dies"
        rest = shop_push_run(push_id=push.pk, batch=3)
        again = shop_push_run(push_id=push.pk, batch=3)
        rows = ShopSku.objects.filter(sku__product=product)

        assert (first.status, first.done_shops, first.total_shops, first.written) == ("running", 6, 10, 12)
        assert (rest.status, rest.done_shops, rest.written) == ("done", 10, 20)
        assert again.written == 20  # nothing applied twice
        assert rows.count() == 20 and set(rows.values_list("stock", flat=True)) == {5}


def test_two_runs_racing_for_one_push_finish_it_with_consistent_progress(committed_db, new_brand, fake_wechat):
    brand = new_brand("push")
    w = build_world(brand, fake_wechat)
    with schema_context(w.schema):
        _shops(w.hq_store, 37)
        product = _product("RACE", skus=3)
        push = shop_push_start(product=product, stock=1)
    barrier = threading.Barrier(2)
    results = []

    def run():
        try:
            with schema_context(w.schema):
                barrier.wait()
                results.append(shop_push_run(push_id=push.pk, batch=4))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    with schema_context(w.schema):
        final = ShopPush.objects.get(pk=push.pk)
        assert (final.status, final.done_shops, final.total_shops) == ("done", 40, 40)
        assert final.written == 40 * 3
        assert ShopSku.objects.filter(sku__product=product).count() == 120


@pytest.mark.worker
def test_hq_pushes_to_every_shop_through_the_api_and_a_worker(
    committed_db, new_brand, fake_wechat, client_for, celery_worker_process
):
    brand = new_brand("push")
    w = build_world(brand, fake_wechat)
    with schema_context(w.schema):
        _shops(w.s1, 25)
        product = _product("API")
    hq = client_for(brand).as_staff("hq", "hq-password-1")
    manager = client_for(brand).as_staff("m1", "manager-password-1")

    refused = manager.post(f"/api/v1/console/products/{product.pk}/push-all", {"stock": 2}, format="json")
    started = hq.post(f"/api/v1/console/products/{product.pk}/push-all", {"stock": 2, "price_fen": 990}, format="json")
    push_id = started.json()["id"]
    done = wait_until(
        lambda: (r := hq.get(f"/api/v1/console/shop-pushes/{push_id}").json())["status"] == "done" and r,
        timeout=60,
        message="the push to finish",
    )

    assert refused.status_code == 403
    assert started.status_code == 202 and started.json()["total_shops"] == 28
    assert (done["done_shops"], done["written"]) == (28, 56)
    with schema_context(w.schema):
        assert set(ShopSku.objects.filter(sku__product=product).values_list("stock", "price_fen")) == {(2, 990)}


def test_another_brands_push_is_not_found(world, world_b, hq_client):
    with schema_context(world.schema):
        push = shop_push_start(product=world.product)
    with schema_context(world_b.schema):
        assert not ShopPush.objects.filter(pk=push.pk).exists()

    from_b = hq_client(world_b).get(f"/api/v1/console/shop-pushes/{push.pk}")
    from_a = hq_client(world).get(f"/api/v1/console/shop-pushes/{push.pk}")

    assert from_a.status_code == 200 and from_a.json()["product_id"] == world.product.pk
    assert from_b.status_code == 404 and from_b.json()["error"]["code"] == "not_found"


def test_a_push_whose_run_was_lost_is_sent_again_by_the_sweep(
    committed_db, new_brand, fake_wechat, celery_worker_process, caplog
):
    from datetime import timedelta

    from django.utils import timezone

    from miniprograms.services.pushes import shop_pushes_send_stuck
    from tests.helpers import broker_unreachable_during

    brand, other = new_brand("pswp"), new_brand("pswp")
    pushes = {}
    for b in (other, brand):
        w = build_world(b, fake_wechat)
        with schema_context(w.schema):
            _shops(w.s1, 5)
            with broker_unreachable_during():  # committed, its run's send fails after the commit: logged
                pushes[b.pk] = shop_push_start(product=_product("LOST"), stock=3)
    assert "task miniprograms.shop_push_run" in caplog.text and "not queued" in caplog.text

    with schema_context(brand.schema_name):
        assert shop_pushes_send_stuck() == 0  # sent (and lost) just now: too early to send again
        assert shop_pushes_send_stuck(now=timezone.now() + timedelta(minutes=11)) == 1
        push = wait_until(
            lambda: (p := ShopPush.objects.get(pk=pushes[brand.pk].pk)).status == ShopPush.Status.DONE and p,
            message="the push run by the worker",
        )
        assert (push.done_shops, push.written) == (push.total_shops, 2 * push.total_shops) and push.total_shops >= 5
        assert shop_pushes_send_stuck(now=timezone.now() + timedelta(minutes=30)) == 0  # done: left alone
    with schema_context(other.schema_name):  # the other brand's push was not this brand's sweep's
        assert ShopPush.objects.get(pk=pushes[other.pk].pk).status == ShopPush.Status.QUEUED
