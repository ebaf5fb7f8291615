"""Bench: WeChat Pay notification handling, APIv3 (service provider) against v2, in the same run.

    .venv/bin/python bench/pay3.py  [--orders 200] [--rounds 3]

Uses its own database (<db>_bench_pay3, recreated) and Redis db (EKR_BENCH_REDIS_DB, default 14, flushed). One
brand whose mini-program has a v2 merchant and a v3 sub-merchant; pending orders stamped half v2, half v3.
Per round, alternating v2 and v3 (so that the machine's load hits both alike), in one process:
- receive: notifications POSTed through the whole Django stack (Django's test client, no network): v2 = XML
  signed with the merchant key (MD5), checked and stored; v3 = JSON signed with WeChat Pay's RSA-2048 key and
  AES-256-GCM encrypted, checked (signature, timestamp, serial), decrypted and stored;
- process: each stored row run through the inbox (callback_process): the order locked and marked paid, points.
Prints notifications per second for each and the v3/v2 ratio. Notifications are built before the clock starts;
a warm-up of 10 each is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")

from ekr.devservices import load_service_env  # noqa: E402

load_service_env(ROOT)
_db = urlparse(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ekr"))
BENCH_DB = _db.path.lstrip("/") + "_bench_pay3"
os.environ["DATABASE_URL"] = _db._replace(path="/" + BENCH_DB).geturl()
_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = _redis.rsplit("/", 1)[0] + "/" + os.environ.get("EKR_BENCH_REDIS_DB", "14")
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.update(DJANGO_DEBUG="0", EKR_LOG_LEVEL="ERROR")

import django  # noqa: E402

django.setup()

import psycopg2  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SLUG = "benchpay"
APPID = "wxbenchpay00000001"
MCH_ID, MCH_KEY = "1900000109", "k" * 32
SUB_MCHID = "1900000222"


def log(message: str) -> None:
    print(message, flush=True)


def recreate_database() -> None:
    db = settings.DATABASES["default"]
    params = {
        "dbname": "postgres",
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": db.get("PORT") or "",
    }
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v != ""})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [BENCH_DB])
        cur.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        cur.execute(f'CREATE DATABASE "{BENCH_DB}"')
    conn.close()


def provision(keys):
    from members.models import Member, Store
    from tenants.models import WeChatPayProvider
    from tenants.services import brand_create, wechat_app_add
    from tests.wechatpay_v3 import SP_APPID, SP_MCHID

    call_command("bootstrap", verbosity=0)
    brand = brand_create(slug=SLUG, name="Pay bench")
    app = wechat_app_add(brand=brand, appid=APPID, secret="s", token="t", mch_id=MCH_ID, mch_key=MCH_KEY)
    app.pay_api, app.sub_mchid = "wxpay_v3", SUB_MCHID
    app.save(update_fields=["pay_api", "sub_mchid"])
    provider = WeChatPayProvider(
        sp_mchid=SP_MCHID,
        sp_appid=SP_APPID,
        merchant_private_key=keys.merchant_pem,
        merchant_serial_no=keys.merchant_serial,
        apiv3_key=keys.apiv3_key,
        wechatpay_public_key=keys.platform_public_pem,
        wechatpay_public_key_id=keys.public_key_id,
    )
    provider.full_clean()
    provider.save()
    with schema_context(brand.schema_name):
        store = Store.objects.create(code="B1", name="Bench store")
        member = Member.objects.create(openid="o-bench", name="Bench")
    connection.set_schema_to_public()
    return brand, store, member


def make_orders(brand, store, member, gateway: str, count: int) -> list[str]:
    from miniprograms.models import Order

    mchid = MCH_ID if gateway == "wxpay_v2" else SUB_MCHID
    with schema_context(brand.schema_name):
        orders = [
            Order(
                number=f"{gateway[-2:]}{secrets.token_hex(8)}",
                store=store,
                member=member,
                subtotal_fen=1000,
                total_fen=1000,
                appid=APPID,
                prepay_id="wx" + secrets.token_hex(8),
                pay_gateway=gateway,
                pay_mchid=mchid,
                expires_at=timezone.now() + timedelta(hours=2),
            )
            for _ in range(count)
        ]
        Order.objects.bulk_create(orders)
    connection.set_schema_to_public()
    return [o.number for o in orders]


def v2_notification(number: str) -> bytes:
    from tests.fake_wechat.server import _pay_sign, _xml

    data = {
        "appid": APPID,
        "mch_id": MCH_ID,
        "nonce_str": secrets.token_hex(8),
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "openid": "o-bench",
        "trade_type": "JSAPI",
        "bank_type": "CMC",
        "total_fee": "1000",
        "fee_type": "CNY",
        "cash_fee": "1000",
        "transaction_id": "4200" + secrets.token_hex(12),
        "out_trade_no": number,
        "time_end": time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + 8 * 3600)),
    }
    data["sign"] = _pay_sign(data, MCH_KEY)
    return _xml(data)


def v3_notification(keys, number: str) -> tuple[dict, bytes]:
    from tests.fake_wechat.pay_v3 import _now_rfc3339, aes_encrypt, rsa_sign
    from tests.wechatpay_v3 import SP_APPID, SP_MCHID

    resource = {
        "sp_appid": SP_APPID,
        "sp_mchid": SP_MCHID,
        "sub_mchid": SUB_MCHID,
        "sub_appid": APPID,
        "out_trade_no": number,
        "transaction_id": "4200" + secrets.token_hex(12),
        "trade_type": "JSAPI",
        "trade_state": "SUCCESS",
        "trade_state_desc": "ok",
        "bank_type": "OTHERS",
        "success_time": _now_rfc3339(),
        "payer": {"sub_openid": "o-bench"},
        "amount": {"total": 1000, "payer_total": 1000, "currency": "CNY", "payer_currency": "CNY"},
    }
    envelope = {
        "id": secrets.token_hex(16),
        "create_time": _now_rfc3339(),
        "resource_type": "encrypt-resource",
        "event_type": "TRANSACTION.SUCCESS",
        "summary": "支付成功",
        "resource": {
            **aes_encrypt(keys.apiv3_key, json.dumps(resource), "transaction"),
            "original_type": "transaction",
        },
    }
    body = json.dumps(envelope, ensure_ascii=False).encode()
    stamp, nonce = str(int(time.time())), secrets.token_hex(16)
    headers = {
        "Wechatpay-Timestamp": stamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": keys.public_key_id,
        "Wechatpay-Signature": rsa_sign(keys.platform_key, f"{stamp}\n{nonce}\n{body.decode()}\n"),
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }
    return headers, body


def receive(client: Client, gateway: str, items: list) -> float:
    host = settings.EKR_BASE_DOMAIN
    start = time.perf_counter()
    for item in items:
        if gateway == "wxpay_v2":
            response = client.generic(
                "POST", f"/wechat/pay/notify/{APPID}/", item, content_type="text/xml", HTTP_HOST=host
            )
            assert response.status_code == 200, response.content
        else:
            headers, body = item
            response = client.generic(
                "POST",
                f"/wechat/pay/v3/notify/{APPID}/",
                body,
                content_type="application/json",
                headers=headers,
                HTTP_HOST=host,
            )
            assert response.status_code == 204, response.content
    return time.perf_counter() - start


def process(kind: str, numbers: list[str]) -> float:
    from callbacks.models import CallbackEvent
    from callbacks.services import callback_process

    ids = list(
        CallbackEvent.objects.filter(appid=APPID, kind=kind, status__in=["received", "queued"]).values_list(
            "id", flat=True
        )
    )
    assert len(ids) == len(numbers), (kind, len(ids), len(numbers))
    start = time.perf_counter()
    for event_id in ids:
        outcome = callback_process(event_id=event_id)
        assert outcome.status == "done", outcome
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200, help="notifications per gateway per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tenants.wechatpay import provider_client_cache_clear
    from tests.wechatpay_v3 import generate_keys

    recreate_database()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    connection.close()
    keys = generate_keys()
    log(f"bench db {BENCH_DB}: provisioning ...")
    brand, store, member = provision(keys)
    provider_client_cache_clear()
    client = Client()
    totals = {g: {"receive": 0.0, "process": 0.0, "count": 0} for g in ("wxpay_v2", "wxpay_v3")}
    for gateway in ("wxpay_v2", "wxpay_v3"):  # warm-up, not counted: imports, caches, connections
        numbers = make_orders(brand, store, member, gateway, 10)
        receive(
            client,
            gateway,
            [v2_notification(n) if gateway == "wxpay_v2" else v3_notification(keys, n) for n in numbers],
        )
        process("pay.notify" if gateway == "wxpay_v2" else "pay.v3.transaction", numbers)
        connection.set_schema_to_public()
    for round_no in range(args.rounds):
        order = ("wxpay_v2", "wxpay_v3") if round_no % 2 == 0 else ("wxpay_v3", "wxpay_v2")
        for gateway in order:
            numbers = make_orders(brand, store, member, gateway, args.orders)
            items = [v2_notification(n) if gateway == "wxpay_v2" else v3_notification(keys, n) for n in numbers]
            received = receive(client, gateway, items)
            kind = "pay.notify" if gateway == "wxpay_v2" else "pay.v3.transaction"
            processed = process(kind, numbers)
            connection.set_schema_to_public()
            totals[gateway]["receive"] += received
            totals[gateway]["process"] += processed
            totals[gateway]["count"] += len(numbers)
            log(
                f"round {round_no + 1} {gateway}: receive {len(numbers) / received:7.1f}/s, "
                f"process {len(numbers) / processed:7.1f}/s"
            )
    rates = {g: {k: t["count"] / t[k] for k in ("receive", "process")} for g, t in totals.items()}
    rates = {
        g: dict(r, end_to_end=t["count"] / (t["receive"] + t["process"]))
        for (g, r), t in zip(rates.items(), totals.values(), strict=True)
    }
    log(
        f"\nnotifications per second ({args.rounds} rounds x {args.orders} per gateway, one process, "
        f"cpu_count={os.cpu_count()}):"
    )
    log(f"{'':12}{'v2 (baseline)':>16}{'v3':>12}{'v3/v2':>8}")
    for key in ("receive", "process", "end_to_end"):
        v2, v3 = rates["wxpay_v2"][key], rates["wxpay_v3"][key]
        log(f"{key:12}{v2:16.1f}{v3:12.1f}{v3 / v2:8.2f}")
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


if __name__ == "__main__":
    main()
