"""bench/flashsale: 1,000 concurrent buyers for the last 100 units of one SKU.

    .venv/bin/python bench/flashsale.py [--buyers 1000] [--units 100] [--threads 48]
    .venv/bin/python bench/flashsale.py --profile     # cProfile of the same buyers on one thread, top 30
    .venv/bin/python bench/flashsale.py --profile --profile-cpu --profile-out /tmp/fs.prof --http-seconds 0
                                                      # the same, timed by the thread's CPU (the GIL is the limit
                                                      # with 48 threads; wall time is mostly the busy database)
    .venv/bin/python bench/flashsale.py --py-spy /tmp/fs.raw   # py-spy on the gunicorn workers, DRF round
    .venv/bin/py-spy record --idle -r 200 -f raw -o /tmp/fs-buyers.raw -- .venv/bin/python bench/flashsale.py \
        --http-seconds 0                              # where the buyers' threads wait (the SKU row, mostly)

Runs on a database and a Redis db of its own (`<db>_bench_flashsale`, Redis db 2; bench/_owndb.py), migrated
when behind, and a brand it provisions and drops at the end.
Then the order create endpoint over HTTP (gunicorn; `--http-seconds`) beside a plain Django view placing the same
order through the ORM (bench/urls_flashsale.py), on a SKU with stock to spare: orders/s and web CPU an order.

A pool of threads, each with its own connection, makes every buyer place an order (stock reserved by the
conditional UPDATE in order_place) and, when that succeeds, pays it through the WeChat Pay notification service
(a notification signed with the merchant key, verified, the order locked and marked paid once). Then, in the
same run, the bare reservation statement alone on a hot row with the same threads (printed for reference), and the
bare SQL flash sale the figure is judged against: the same buyers, threads and units doing the same essential work
in SQL alone (read the stock; reserve it and record the order, its line and first event in one statement; mark a
winner's order paid with its event; see BARE_PLACE). Asserts exactly `units` paid orders and stock never below zero
(sampled throughout, and the database's check constraint), on both sides.
"""

import argparse
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _owndb

DB_NAME = _owndb.use("flashsale", redis_db=2)

from _report import figure  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402


def drop(brand) -> None:
    """Drop the run's brand (its schema and registry rows): the bench database is its own."""
    from tenants.models import Brand, Domain, WeChatApp

    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{brand.schema_name}" CASCADE')
    WeChatApp.objects.filter(brand=brand).delete()
    Domain.objects.filter(tenant=brand).delete()
    Brand.objects.filter(pk=brand.pk).delete()


def provision(units: int, buyers: int):
    from members.models import Member, Store
    from miniprograms.models import Product, Shop, ShopSku, Sku
    from tenants.services import brand_create, wechat_app_add

    slug = f"flash{uuid.uuid4().hex[:6]}"
    brand = brand_create(slug=slug, name=slug)
    app = wechat_app_add(brand=brand, appid=f"wx{uuid.uuid4().hex[:16]}", secret="s", token="t", aes_key="k" * 43)
    app.mch_id, app.mch_key = "1900000109", "m" * 32
    app.save(update_fields=["mch_id", "mch_key"])
    connection.set_schema_to_public()
    with schema_context(brand.schema_name):
        store = Store.objects.create(code="FS", name="Flash store", city="Shanghai")
        shop = Shop.objects.create(store=store, name="Flash sale")
        product = Product.objects.create(name="Limited tea")
        sku = Sku.objects.create(product=product, code="LIMITED", price_fen=9900)
        entry = ShopSku.objects.create(shop=shop, sku=sku, stock=units)
        hot = ShopSku.objects.create(shop=Shop.objects.create(store=store, name="SQL only"), sku=sku, stock=10**9)
        bare = ShopSku.objects.create(
            shop=Shop.objects.create(store=store, name="Bare flash sale"), sku=sku, stock=units
        )
        Member.objects.bulk_create([Member(openid=f"o-flash-{i}") for i in range(buyers)])
        members = list(Member.objects.order_by("pk"))
    return brand, app, shop, sku, entry, hot, bare, members


# The bare flash sale: the same essential work as order_place + the pay notification, in SQL alone, each statement in
# autocommit. A buyer's attempt reads the stock (no lock: once it is gone, that read is the whole attempt, as in
# order_place, instead of queueing on the row behind the winners' locks), then, if some is left, one statement: the
# conditional UPDATE (check and reserve), and from its row the order, its line and its first event (nothing when
# another buyer took the last unit meanwhile). A winner then marks the order paid (only if still unpaid) with its
# "paid" event. It leaves out what ours does besides (the
# notification's signature and checks, the guide attribution, the points earned, the hooks): a conservative baseline.
BARE_PLACE = """
WITH r AS (
    UPDATE "miniprograms_shopsku" SET "stock" = "stock" - 1 WHERE "id" = %(entry)s AND "stock" >= 1 AND "on_sale"
    RETURNING "id", "sku_id"
), o AS (
    INSERT INTO "miniprograms_order" ("number", "channel", "shop_id", "store_id", "member_id", "status", "subtotal_fen",
        "discount_fen", "total_fen", "refunded_fen", "fulfilment", "fulfilment_status", "delivery_address",
        "buyer_phone_hash", "appid", "prepay_id", "pay_gateway", "pay_mchid", "transaction_id", "created_at",
        "expires_at")
    SELECT %(number)s, 'online', %(shop)s, %(store)s, %(member)s, 'pending_payment', %(price)s, 0, %(price)s, 0,
        'pickup', 'none', '{}', '', %(appid)s, '', '', '', '', now(), now() + interval '15 minutes' FROM r
    RETURNING "id"
), l AS (
    INSERT INTO "miniprograms_orderline" ("order_id", "sku_id", "shop_sku_id", "product_name", "sku_code",
        "attributes", "unit_price_fen", "quantity", "discount_fen", "total_fen", "refunded_quantity", "commission_fen")
    SELECT o."id", r."sku_id", r."id", %(name)s, %(code)s, '{}', %(price)s, 1, 0, %(price)s, 0, 0 FROM o, r
)
INSERT INTO "miniprograms_orderevent" ("order_id", "status", "note", "created_at")
SELECT "id", 'placed', '', now() FROM o RETURNING "order_id"
"""
BARE_CHECK = 'SELECT "stock" FROM "miniprograms_shopsku" WHERE "id" = %s AND "on_sale"'
BARE_PAY = """
WITH p AS (
    UPDATE "miniprograms_order" SET "status" = 'paid', "paid_at" = now(), "transaction_id" = %s,
        "fulfilment_status" = 'preparing'
    WHERE "id" = %s AND "status" = 'pending_payment' RETURNING "id"
)
INSERT INTO "miniprograms_orderevent" ("order_id", "status", "note", "created_at")
SELECT "id", 'paid', '', now() FROM p RETURNING "order_id"
"""


def bare_flash_sale(schema, app, sku, bare, members, threads: int) -> tuple[float, dict[str, int]]:
    """The same buyers, threads and units as ours, on a row of their own, in bare SQL. Returns (seconds, outcomes)."""
    queue = list(members)
    lock = threading.Lock()
    outcomes = {"paid": 0, "out_of_stock": 0}
    params = {"entry": bare.pk, "shop": bare.shop_id, "store": bare.shop.store_id, "price": sku.price_fen}
    params |= {"appid": app.appid, "name": sku.product.name, "code": sku.code}

    def buyer_thread(_) -> None:
        try:
            with schema_context(schema):
                connection.ensure_connection()
                with connection.cursor() as cur:
                    while True:
                        with lock:
                            if not queue:
                                return
                            member = queue.pop()
                        cur.execute(BARE_CHECK, [bare.pk])
                        row = None
                        if cur.fetchone()[0] >= 1:
                            cur.execute(BARE_PLACE, params | {"member": member.pk, "number": uuid.uuid4().hex[:22]})
                            row = cur.fetchone()
                        if row is None:
                            key = "out_of_stock"
                        else:
                            cur.execute(BARE_PAY, ["4200" + uuid.uuid4().hex[:20], row[0]])
                            key = "paid" if cur.fetchone() else "rejected"
                        with lock:
                            outcomes[key] = outcomes.get(key, 0) + 1
        finally:
            connection.close()

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(buyer_thread, range(threads)))
    return time.perf_counter() - start, outcomes


def notification(app, order):
    from miniprograms.payments.wechatpay_v2 import sign

    data = {
        "appid": app.appid,
        "mch_id": app.mch_id,
        "nonce_str": uuid.uuid4().hex,
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "openid": order.member.openid,
        "trade_type": "JSAPI",
        "total_fee": str(order.total_fen),
        "cash_fee": str(order.total_fen),
        "fee_type": "CNY",
        "transaction_id": "4200" + uuid.uuid4().hex[:20],
        "out_trade_no": order.number,
        "time_end": timezone.localtime(timezone.now()).strftime("%Y%m%d%H%M%S"),
    }
    data["sign"] = sign(data, app.mch_key, "MD5")
    return data


def http_orders(args, brand, app, hot, members) -> dict[str, tuple[int, float, float]]:
    """Orders of one unit of a SKU with stock to spare over HTTP (gunicorn 2 x 8 gthread), `http_threads` clients
    each with its own member and keep-alive connection: our endpoint, then the plain view (bench/urls_flashsale.py).
    Returns {round: (orders, seconds, web CPU seconds)}."""
    from _http import Client, free_port, group_cpu, start_gunicorn, stop_group
    from django.conf import settings

    from members.mp_auth import member_token_issue

    host = f"{brand.slug}.{settings.EKR_BASE_DOMAIN}"
    buyers = members[: args.http_threads]
    tokens = [member_token_issue(schema=brand.schema_name, appid=app.appid, openid=m.openid) for m in buyers]
    body = {"shop_id": hot.shop_id, "items": [{"sku_id": hot.sku_id, "quantity": 1}]}
    port = free_port()
    server = start_gunicorn(port, "bench.settings_flashsale")
    results, shapes = {}, {}
    try:
        for name, path in (
            ("HTTP order create, our endpoint (DRF)", "/api/v1/mp/orders"),
            ("HTTP, plain view", "/bench/bare/orders"),
        ):
            done = [0] * len(buyers)
            deadline = [0.0]
            gate = threading.Barrier(len(buyers) + 1)

            clients = [Client(port, host, token) for token in tokens]
            for client in clients:  # warm-up: the workers import the URLconf and connect before the clock starts
                status, data = client.post(path, body)
                if status != 201:
                    raise RuntimeError(f"{path} answered {status}: {str(data)[:200]}")
            shapes[name] = _shape(data)

            def client_loop(i, path=path, done=done, deadline=deadline, gate=gate, clients=clients):
                client = clients[i]
                gate.wait()
                while time.perf_counter() < deadline[0]:
                    status, data = client.post(path, body)
                    if status != 201:
                        raise RuntimeError(f"{path} answered {status}: {str(data)[:200]}")
                    done[i] += 1

            threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(len(buyers))]
            for t in threads:
                t.start()
            spy = None
            if args.py_spy and "DRF" in name:
                seconds = str(max(int(args.http_seconds), 1))
                spy_cmd = [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "200", "-f", "raw"]
                spy_cmd += ["-o", args.py_spy, "--subprocesses", "-d", seconds, "-p", str(server.pid)]
                spy = subprocess.Popen(spy_cmd, stdout=subprocess.DEVNULL)
            cpu0, began = group_cpu(server), time.perf_counter()
            deadline[0] = began + args.http_seconds
            gate.wait()
            for t in threads:
                t.join()
            results[name] = (sum(done), time.perf_counter() - began, group_cpu(server) - cpu0)
            if spy is not None:
                spy.wait(timeout=60)
    finally:
        stop_group(server)
    if len(set(map(repr, shapes.values()))) != 1:
        raise RuntimeError(f"the two endpoints answer different fields: {shapes}")
    return results


def _shape(data):
    """The fields of an answer, nested (values left out): both endpoints must answer the same."""
    if isinstance(data, dict):
        return {k: _shape(v) for k, v in sorted(data.items()) if k != "attributes"}
    if isinstance(data, list):
        return [_shape(v) for v in data]
    return type(data).__name__


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--buyers", type=int, default=1000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--threads", type=int, default=48)
    parser.add_argument("--sql-seconds", type=float, default=5.0)
    parser.add_argument("--http-seconds", type=float, default=8.0, help="each HTTP round (0: none)")
    parser.add_argument("--http-threads", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="buyers on one thread under cProfile")
    parser.add_argument("--profile-cpu", action="store_true", help="with --profile: this thread's CPU time, not wall")
    parser.add_argument("--profile-out", metavar="PATH", help="with --profile: also dump the stats (pstats) there")
    parser.add_argument("--py-spy", metavar="PATH", help="record the web workers during the DRF round (raw format)")
    args = parser.parse_args()

    t0 = time.perf_counter()
    call_command("bootstrap", verbosity=0)
    brand, app, shop, sku, entry, hot, bare, members = provision(args.units, args.buyers)
    print(
        f"provisioned database {DB_NAME}, brand {brand.schema_name}, "
        f"{args.buyers} buyers, {args.units} units in {time.perf_counter() - t0:.1f}s"
    )

    from core.errors import Conflict
    from miniprograms.models import Order, ShopSku
    from miniprograms.services.orders import order_place
    from miniprograms.services.payments import order_mark_paid_from_notification
    from miniprograms.services.stock import RESERVE_SQL

    schema = brand.schema_name
    outcomes: dict[str, int] = {}
    lock = threading.Lock()
    min_stock = [args.units]
    stop = threading.Event()

    def count(key: str) -> None:
        with lock:
            outcomes[key] = outcomes.get(key, 0) + 1

    queue = list(members)

    def buyer_thread(_) -> None:
        """One thread, one connection, many buyers (a web worker's life)."""
        try:
            with schema_context(schema):
                while True:
                    with lock:
                        if not queue:
                            return
                        member = queue.pop()
                    try:
                        order = order_place(
                            member=member, shop=shop, items=[{"sku_id": sku.pk, "quantity": 1}], appid=app.appid
                        )
                    except Conflict as exc:
                        count(exc.code)
                        continue
                    count(order_mark_paid_from_notification(data=notification(app, order)))
        finally:
            connection.close()

    def sampler() -> None:
        try:
            with schema_context(schema):
                while not stop.is_set():
                    value = ShopSku.objects.get(pk=entry.pk).stock
                    min_stock[0] = min(min_stock[0], value)
                    time.sleep(0.005)
        finally:
            connection.close()

    watcher = threading.Thread(target=sampler)
    watcher.start()
    start, cpu_start = time.perf_counter(), time.process_time()
    try:
        if args.profile:  # every buyer on this one thread, under cProfile
            import cProfile
            import pstats

            profiler = cProfile.Profile(time.thread_time if args.profile_cpu else time.perf_counter)
            profiler.enable()
            buyer_thread(0)
            profiler.disable()
            if args.profile_out:
                profiler.dump_stats(args.profile_out)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
        else:
            with ThreadPoolExecutor(max_workers=args.threads) as pool:
                list(pool.map(buyer_thread, range(args.threads)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    finally:  # a buyer's error ends the run instead of leaving the sampler polling forever
        stop.set()
        watcher.join()

    with schema_context(schema):
        paid = Order.objects.filter(shop=shop, status=Order.Status.PAID).count()
        final_stock = ShopSku.objects.get(pk=entry.pk).stock

    # The bare statement, same threads, on a hot row with stock to spare.
    executed = [0]

    def sql_loop(_) -> None:
        n = 0
        try:
            with schema_context(schema):
                connection.ensure_connection()
                deadline = time.perf_counter() + args.sql_seconds
                with connection.cursor() as cur:
                    while time.perf_counter() < deadline:
                        cur.execute(RESERVE_SQL, [1, hot.pk, 1])
                        n += cur.rowcount
        finally:
            connection.close()
            with lock:
                executed[0] += n

    sql_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        list(pool.map(sql_loop, range(args.threads)))
    sql_elapsed = time.perf_counter() - sql_start
    bare_cpu_start = time.process_time()
    bare_elapsed, bare_outcomes = bare_flash_sale(schema, app, sku, bare, members, args.threads)
    bare_cpu = time.process_time() - bare_cpu_start
    with schema_context(schema):
        bare_paid = Order.objects.filter(shop_id=bare.shop_id, status=Order.Status.PAID).count()
        bare_stock = ShopSku.objects.get(pk=bare.pk).stock
    http = http_orders(args, brand, app, hot, members) if args.http_seconds else None
    drop(brand)
    _owndb.reset_redis()

    print(f"flash sale: {args.buyers} buyers, {args.threads} threads, {args.units} units of one SKU")
    print(f"  outcomes: {dict(sorted(outcomes.items()))}")
    print(f"  paid orders: {paid}; stock left: {final_stock}; lowest stock seen: {min_stock[0]}")
    print(
        f"  {elapsed:.2f}s: {args.buyers / elapsed:.0f} order attempts/s, {paid / elapsed:.0f} paid orders/s "
        f"(place + pay notification)"
    )
    print(
        f"  bare reservation statement (UPDATE .. SET stock = stock - 1 WHERE id = .. AND stock >= 1), "
        f"{args.threads} threads on one hot row, autocommit: {executed[0] / sql_elapsed:.0f} statements/s"
    )
    print(
        f"  bare flash sale (the same buyers and units in SQL: a stock read, then one statement reserving and "
        f"recording the order; one more marking a winner's paid), {args.threads} threads: {bare_elapsed:.2f}s, "
        f"{args.buyers / bare_elapsed:.0f} attempts/s, {bare_outcomes}"
    )
    print(
        f"  this process's CPU an attempt (less noisy than the rates on a busy machine): ours "
        f"{cpu / args.buyers * 1000:.2f} ms, bare {bare_cpu / args.buyers * 1000:.2f} ms"
    )
    assert bare_paid == args.units and bare_stock == 0 and bare_outcomes["paid"] == args.units
    assert paid == args.units, f"expected exactly {args.units} paid orders, got {paid}"
    assert final_stock == 0 and min_stock[0] >= 0
    assert outcomes.get("paid") == args.units and outcomes.get("out_of_stock") == args.buyers - args.units
    print("OK: exactly", paid, "paid orders, stock never negative")
    if http:
        for name, (count, wall, cpu) in http.items():
            print(
                f"  {name:<40} {count:6d} orders {count / wall:8.1f}/s   web CPU {cpu / max(count, 1) * 1000:6.1f} ms "
                "an order"
            )
        drf, plain = (http[k][0] / http[k][1] for k in ("HTTP order create, our endpoint (DRF)", "HTTP, plain view"))
        figure(
            f"order create over HTTP: DRF vs plain Django view, {args.http_threads} clients",
            measured=drf / plain,
            aim=">= 0.8",
            unit="x plain view",
            ok=drf / plain >= 0.8,
        )
    hot_ratio = (args.buyers / elapsed) / (executed[0] / sql_elapsed)
    print(f"  (attempts/s vs the hot-row statement/s alone, the figure before the bare flash sale: {hot_ratio:.3f}x)")
    ratio = bare_elapsed / elapsed
    figure(
        f"flash sale attempts vs the bare SQL flash sale, {args.threads} threads",
        measured=ratio,
        aim=">= 0.3",
        unit="x bare",
        ok=ratio >= 0.3,
    )


if __name__ == "__main__":
    main()
