"""The fake WeChat Pay APIv3, service-provider (partner) mode, in WeChat Pay's own formats.

- Requests must carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,signature=..,timestamp=..,
  serial_no=..` signed with the registered merchant key over METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n;
  otherwise 401 {"code": "SIGN_ERROR"} as WeChat answers. A timestamp more than 5 minutes off is refused too.
- Answers (and notifications) are signed with the platform key pair the test suite generates (`keys(...)`), with
  Wechatpay-Serial naming it (a public key id, or a certificate serial).
- The sub-merchant must be under the service provider, and the sub_appid bound to it.

Program it:
    fake.pay_v3_keys(platform_key, serial, certificates=[(serial, pem)])   # once a session (kept over reset)
    fake.pay_v3_provider(sp_mchid, sp_appid, merchant_public_pem, merchant_serial, apiv3_key)
    fake.pay_v3_sub_merchant(sub_mchid, sub_appid)
    headers, body = fake.pay_v3_notification(out_trade_no)        # what WeChat posts once the buyer paid
    headers, body = fake.pay_v3_refund_notification(out_refund_no)
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlparse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tests.fake_wechat.server import FakeWeChat, route

SHANGHAI = timezone(timedelta(hours=8))
_AUTH = re.compile(r'(\w+)="([^"]*)"')


def rsa_sign(private_key, message: str) -> str:
    return base64.b64encode(private_key.sign(message.encode(), PKCS1v15(), SHA256())).decode()


def aes_encrypt(apiv3_key: str, plaintext: str, associated_data: str) -> dict:
    nonce = secrets.token_hex(6)  # 12 characters, as WeChat's
    data = AESGCM(apiv3_key.encode()).encrypt(nonce.encode(), plaintext.encode(), associated_data.encode())
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(data).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def _now_rfc3339() -> str:
    return datetime.now(SHANGHAI).replace(microsecond=0).isoformat()


# --- programming -------------------------------------------------------------------------------------------------


def _keys(self: FakeWeChat, platform_key, serial: str, certificates: list | None = None) -> None:
    self.pay_v3_platform = {"key": platform_key, "serial": serial, "certificates": list(certificates or [])}


def _provider(
    self: FakeWeChat, sp_mchid: str, sp_appid: str, merchant_public_pem: str, merchant_serial: str, apiv3_key: str
) -> None:
    self.state.setdefault("v3_providers", {})[sp_mchid] = {
        "appid": sp_appid,
        "public_key": load_pem_public_key(merchant_public_pem.encode()),
        "serial": merchant_serial,
        "apiv3_key": apiv3_key,
        "sub_merchants": {},
    }


def _sub_merchant(self: FakeWeChat, sub_mchid: str, sub_appid: str, sp_mchid: str | None = None) -> None:
    providers = self.state["v3_providers"]
    provider = providers[sp_mchid] if sp_mchid else next(iter(providers.values()))
    provider["sub_merchants"].setdefault(sub_mchid, set()).add(sub_appid)


def _signed_headers(
    fake: FakeWeChat,
    body: bytes,
    *,
    key=None,
    serial: str | None = None,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict:
    platform = fake.pay_v3_platform
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = nonce or secrets.token_hex(16)
    signature = rsa_sign(key or platform["key"], f"{timestamp}\n{nonce}\n{body.decode()}\n")
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial or platform["serial"],
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
    }


def _answer(fake: FakeWeChat, status: int, payload: dict | None):
    body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    headers = _signed_headers(fake, body)
    headers["Request-ID"] = secrets.token_hex(8)
    headers["Content-Type"] = "application/json; charset=utf-8"
    return status, body, headers


def _error(status: int, code: str, message: str):
    # WeChat's errors are not signed; the client does not check them.
    return (
        status,
        json.dumps({"code": code, "message": message}).encode(),
        {"Content-Type": "application/json; charset=utf-8"},
    )


def _authenticate(fake: FakeWeChat, request, body: bytes):
    """The provider the request is signed by, or an error answer."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
        return None, _error(401, "SIGN_ERROR", "Authorization 不合法")
    fields = dict(_AUTH.findall(header))
    provider = fake.state.get("v3_providers", {}).get(fields.get("mchid", ""))
    if provider is None:
        return None, _error(401, "SIGN_ERROR", "商户号不存在")
    if fields.get("serial_no") != provider["serial"]:
        return None, _error(401, "SIGN_ERROR", "证书序列号不存在")
    try:
        timestamp = int(fields.get("timestamp", ""))
    except ValueError:
        return None, _error(401, "SIGN_ERROR", "timestamp 不合法")
    if abs(time.time() - timestamp) > 300:
        return None, _error(401, "SIGN_ERROR", "请求已过期")
    message = f"{request.method}\n{request.path}\n{timestamp}\n{fields.get('nonce_str', '')}\n{body.decode()}\n"
    try:
        provider["public_key"].verify(
            base64.b64decode(fields.get("signature", "")), message.encode(), PKCS1v15(), SHA256()
        )
    except (InvalidSignature, ValueError):
        return None, _error(401, "SIGN_ERROR", "签名错误")
    return (fields["mchid"], provider), None


def _json(body: bytes) -> dict | None:
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _check_sub(provider: dict, sub_mchid: str, sub_appid: str | None = None):
    appids = provider["sub_merchants"].get(sub_mchid)
    if appids is None:
        return _error(400, "INVALID_REQUEST", "受理关系不存在")
    if sub_appid is not None and sub_appid not in appids:
        return _error(400, "INVALID_REQUEST", "sub_mchid与sub_appid不匹配")
    return None


def _orders(fake: FakeWeChat) -> dict:
    return fake.state.setdefault("v3_orders", {})


# --- endpoints -----------------------------------------------------------------------------------------------


@route("POST", "/v3/pay/partner/transactions/jsapi", prefix=True)
def jsapi(fake: FakeWeChat, query: dict, body: bytes, *, request):
    who, fail = _authenticate(fake, request, body)
    if fail:
        return fail
    sp_mchid, provider = who
    data = _json(body)
    if data is None:
        return _error(400, "PARAM_ERROR", "请求体不是合法的JSON")
    missing = [
        k
        for k in ("sp_appid", "sp_mchid", "sub_mchid", "description", "out_trade_no", "notify_url", "amount", "payer")
        if not data.get(k)
    ]
    if missing:
        return _error(400, "PARAM_ERROR", f"缺少参数 {','.join(missing)}")
    if data["sp_mchid"] != sp_mchid or data["sp_appid"] != provider["appid"]:
        return _error(400, "INVALID_REQUEST", "sp_mchid与sp_appid不匹配")
    fail = _check_sub(provider, data["sub_mchid"], data.get("sub_appid"))
    if fail:
        return fail
    if not data["payer"].get("sub_openid") and not data["payer"].get("sp_openid"):
        return _error(400, "PARAM_ERROR", "缺少参数 payer.sub_openid")
    if "time_expire" in data:
        try:
            if datetime.fromisoformat(data["time_expire"]) <= datetime.now(SHANGHAI):
                return _error(400, "INVALID_REQUEST", "time_expire 已过期")
        except ValueError:
            return _error(400, "PARAM_ERROR", "time_expire 格式错误")
    key = (data["sub_mchid"], data["out_trade_no"])
    with fake.lock:
        existing = _orders(fake).get(key)
        if existing and existing["trade_state"] == "SUCCESS":
            return _error(400, "ORDERPAID", "该订单已支付")
        if existing and existing["trade_state"] == "CLOSED":
            return _error(400, "ORDER_CLOSED", "订单已关闭")
        if existing and existing["total"] != data["amount"]["total"]:
            return _error(400, "INVALID_REQUEST", "商户订单号重复")
        prepay_id = existing["prepay_id"] if existing else "wx" + secrets.token_hex(14)
        _orders(fake)[key] = {
            "sp_mchid": sp_mchid,
            "sp_appid": provider["appid"],
            "sub_mchid": data["sub_mchid"],
            "sub_appid": data.get("sub_appid"),
            "out_trade_no": data["out_trade_no"],
            "total": int(data["amount"]["total"]),
            "openid": data["payer"].get("sub_openid", ""),
            "trade_state": "NOTPAY",
            "prepay_id": prepay_id,
            "transaction_id": "",
            "success_time": "",
            "time_expire": data.get("time_expire"),
            "notify_url": data["notify_url"],
            "refunds": {},
            "description": data["description"],
        }
    return _answer(fake, 200, {"prepay_id": prepay_id})


def _order_view(order: dict) -> dict:
    view = {
        "sp_appid": order["sp_appid"],
        "sp_mchid": order["sp_mchid"],
        "sub_mchid": order["sub_mchid"],
        "out_trade_no": order["out_trade_no"],
        "trade_state": order["trade_state"],
        "trade_state_desc": order["trade_state"],
        "trade_type": "JSAPI",
        "amount": {"total": order["total"], "payer_total": order["total"], "currency": "CNY", "payer_currency": "CNY"},
        "payer": {"sub_openid": order["openid"]},
    }
    if order.get("sub_appid"):
        view["sub_appid"] = order["sub_appid"]
    if order["transaction_id"]:
        view.update(transaction_id=order["transaction_id"], success_time=order["success_time"], bank_type="OTHERS")
    return view


@route("GET", "/v3/pay/partner/transactions/out-trade-no/", prefix=True)
def query_order(fake: FakeWeChat, query: dict, body: bytes, *, request):
    who, fail = _authenticate(fake, request, body)
    if fail:
        return fail
    sp_mchid, _ = who
    number = urlparse(request.path).path.rsplit("/", 1)[-1]
    order = _orders(fake).get((query.get("sub_mchid", ""), number))
    if query.get("sp_mchid") != sp_mchid or order is None or order["sp_mchid"] != sp_mchid:
        return _error(404, "ORDER_NOT_EXIST", "订单不存在")
    return _answer(fake, 200, _order_view(order))


@route("POST", "/v3/pay/partner/transactions/out-trade-no/", prefix=True)
def close_order(fake: FakeWeChat, query: dict, body: bytes, *, request):
    who, fail = _authenticate(fake, request, body)
    if fail:
        return fail
    sp_mchid, _ = who
    path = urlparse(request.path).path
    if not path.endswith("/close"):
        return _error(404, "NOT_FOUND", "no such API")
    number = path[: -len("/close")].rsplit("/", 1)[-1]
    data = _json(body) or {}
    with fake.lock:
        order = _orders(fake).get((data.get("sub_mchid", ""), number))
        if data.get("sp_mchid") != sp_mchid or order is None:
            return _error(404, "ORDER_NOT_EXIST", "订单不存在")
        if order["trade_state"] in ("SUCCESS", "REFUND"):
            return _error(400, "ORDERPAID", "订单已支付")
        order["trade_state"] = "CLOSED"
    return _answer(fake, 204, None)


@route("POST", "/v3/refund/domestic/refunds", prefix=True)
def refund(fake: FakeWeChat, query: dict, body: bytes, *, request):
    who, fail = _authenticate(fake, request, body)
    if fail:
        return fail
    sp_mchid, provider = who
    data = _json(body) or {}
    if urlparse(request.path).path.endswith("/apply-abnormal-refund"):
        return _abnormal_refund(fake, provider, urlparse(request.path).path.split("/")[-2], data)
    amount = data.get("amount") or {}
    if not data.get("out_refund_no") or not data.get("sub_mchid") or "refund" not in amount or "total" not in amount:
        return _error(400, "PARAM_ERROR", "缺少参数")
    fail = _check_sub(provider, data["sub_mchid"])
    if fail:
        return fail
    with fake.lock:
        order = _orders(fake).get((data["sub_mchid"], data.get("out_trade_no", "")))
        if order is None or order["trade_state"] not in ("SUCCESS", "REFUND"):
            return _error(404, "RESOURCE_NOT_EXISTS", "订单不存在或未支付")
        if int(amount["total"]) != order["total"]:
            return _error(400, "PARAM_ERROR", "订单金额与退款金额不匹配")
        existing = order["refunds"].get(data["out_refund_no"])
        if existing is None:
            refunded = sum(r["refund"] for r in order["refunds"].values())
            if int(amount["refund"]) <= 0 or refunded + int(amount["refund"]) > order["total"]:
                return _error(403, "NOT_ENOUGH", "申请退款金额超过订单可退金额")
            existing = {
                "refund_id": "5030" + secrets.token_hex(10),
                "out_refund_no": data["out_refund_no"],
                "refund": int(amount["refund"]),
                "status": "PROCESSING",
                "notify_url": data.get("notify_url"),
                "create_time": _now_rfc3339(),
            }
            order["refunds"][data["out_refund_no"]] = existing
            order["trade_state"] = "REFUND"
    return _answer(
        fake,
        200,
        {
            "refund_id": existing["refund_id"],
            "out_refund_no": existing["out_refund_no"],
            "transaction_id": order["transaction_id"],
            "out_trade_no": order["out_trade_no"],
            "channel": "ORIGINAL",
            "user_received_account": "支付用户零钱",
            "create_time": existing["create_time"],
            "status": existing["status"],
            "amount": {
                "total": order["total"],
                "refund": existing["refund"],
                "payer_total": order["total"],
                "payer_refund": existing["refund"],
                "currency": "CNY",
            },
        },
    )


def _abnormal_refund(fake: FakeWeChat, provider: dict, refund_id: str, data: dict):
    """发起异常退款 of a refund WeChat reported ABNORMAL: to the user's or the merchant's bank card. Once per
    out_refund_no: asking again answers the same refund."""
    if data.get("type") not in ("USER_BANK_CARD", "MERCHANT_BANK_CARD") or not data.get("out_refund_no"):
        return _error(400, "PARAM_ERROR", "缺少参数或 type 不合法")
    fail = _check_sub(provider, data.get("sub_mchid", ""))
    if fail:
        return fail
    with fake.lock:
        for order in _orders(fake).values():
            row = order["refunds"].get(data["out_refund_no"])
            if row is not None and row["refund_id"] == refund_id and order["sub_mchid"] == data["sub_mchid"]:
                break
        else:
            return _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        if row["status"] not in ("ABNORMAL", "PROCESSING") or (
            row["status"] == "PROCESSING" and not row.get("abnormal")
        ):
            return _error(400, "INVALID_REQUEST", "退款单状态不是异常 不能发起异常退款")
        if row["status"] == "ABNORMAL":
            row.update(status="PROCESSING", abnormal=data["type"])
    return _answer(
        fake,
        200,
        {
            "refund_id": row["refund_id"],
            "out_refund_no": row["out_refund_no"],
            "transaction_id": order["transaction_id"],
            "out_trade_no": order["out_trade_no"],
            "channel": "ORIGINAL",
            "user_received_account": "商户基本账户" if row["abnormal"] == "MERCHANT_BANK_CARD" else "用户银行卡",
            "create_time": row["create_time"],
            "status": row["status"],
            "amount": {"total": order["total"], "refund": row["refund"], "currency": "CNY"},
        },
    )


@route("GET", "/v3/certificates", prefix=True)
def certificates(fake: FakeWeChat, query: dict, body: bytes, *, request):
    who, fail = _authenticate(fake, request, body)
    if fail:
        return fail
    _, provider = who
    data = []
    for serial, pem, not_before, not_after in fake.pay_v3_platform["certificates"]:
        data.append(
            {
                "serial_no": serial,
                "effective_time": not_before,
                "expire_time": not_after,
                "encrypt_certificate": {
                    **aes_encrypt(provider["apiv3_key"], pem, "certificate"),
                    "algorithm": "AEAD_AES_256_GCM",
                },
            }
        )
    return _answer(fake, 200, {"data": data})


# --- notifications -------------------------------------------------------------------------------------------


def _notification(
    fake: FakeWeChat,
    event_type: str,
    resource_type: str,
    resource: dict,
    associated: str,
    *,
    apiv3_key: str | None,
    sign_key,
    serial: str | None,
    timestamp: int | None,
    signature: str | None,
) -> tuple[dict, bytes]:
    provider = fake.state["v3_providers"][resource["sp_mchid"]]
    envelope = {
        "id": secrets.token_hex(16),
        "create_time": _now_rfc3339(),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "支付成功" if event_type.startswith("TRANS") else "退款状态变更",
        "resource": {
            **aes_encrypt(apiv3_key or provider["apiv3_key"], json.dumps(resource, ensure_ascii=False), associated),
            "original_type": resource_type,
        },
    }
    body = json.dumps(envelope, ensure_ascii=False).encode()
    headers = _signed_headers(fake, body, key=sign_key, serial=serial, timestamp=timestamp)
    if signature is not None:
        headers["Wechatpay-Signature"] = signature
    return headers, body


def _pay_notification(
    self: FakeWeChat,
    out_trade_no: str,
    *,
    sub_mchid: str | None = None,
    total: int | None = None,
    apiv3_key: str | None = None,
    sign_key=None,
    serial: str | None = None,
    timestamp: int | None = None,
    signature: str | None = None,
) -> tuple[dict, bytes]:
    """The signed, encrypted TRANSACTION.SUCCESS WeChat posts once the buyer paid (the order is paid here)."""
    order = next(
        o for (sub, no), o in _orders(self).items() if no == out_trade_no and (sub_mchid is None or sub == sub_mchid)
    )
    with self.lock:
        if order["trade_state"] == "NOTPAY":
            order.update(
                trade_state="SUCCESS", transaction_id="4200" + secrets.token_hex(12), success_time=_now_rfc3339()
            )
    resource = _order_view(order)
    if total is not None:
        resource["amount"] = dict(resource["amount"], total=total, payer_total=total)
    return _notification(
        self,
        "TRANSACTION.SUCCESS",
        "transaction",
        resource,
        "transaction",
        apiv3_key=apiv3_key,
        sign_key=sign_key,
        serial=serial,
        timestamp=timestamp,
        signature=signature,
    )


def _refund_notification(self: FakeWeChat, out_refund_no: str, *, status: str = "SUCCESS", **kwargs):
    """The signed, encrypted REFUND.<status> WeChat posts when a refund is settled (the refund settles here)."""
    for order in _orders(self).values():
        refund_row = order["refunds"].get(out_refund_no)
        if refund_row is not None:
            break
    else:
        raise KeyError(out_refund_no)
    with self.lock:
        refund_row["status"] = status
    resource = {
        "sp_mchid": order["sp_mchid"],
        "sub_mchid": order["sub_mchid"],
        "out_trade_no": order["out_trade_no"],
        "transaction_id": order["transaction_id"],
        "out_refund_no": out_refund_no,
        "refund_id": refund_row["refund_id"],
        "refund_status": status,
        "success_time": _now_rfc3339(),
        "user_received_account": "支付用户零钱",
        "amount": {
            "total": order["total"],
            "refund": refund_row["refund"],
            "payer_total": order["total"],
            "payer_refund": refund_row["refund"],
        },
    }
    return _notification(
        self,
        f"REFUND.{status}",
        "refund",
        resource,
        "refund",
        **{"apiv3_key": None, "sign_key": None, "serial": None, "timestamp": None, "signature": None, **kwargs},
    )


FakeWeChat.pay_v3_keys = _keys
FakeWeChat.pay_v3_provider = _provider
FakeWeChat.pay_v3_sub_merchant = _sub_merchant
FakeWeChat.pay_v3_notification = _pay_notification
FakeWeChat.pay_v3_refund_notification = _refund_notification
FakeWeChat.pay_v3_orders = property(lambda self: _orders(self))
