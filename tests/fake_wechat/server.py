"""A WeChat-compatible HTTP server on loopback for the tests (and staging).

It answers the endpoints ekr calls, in WeChat's own formats and error codes. Tests program it:

    fake.codes["the-code"] = {"openid": "o1", "session_key": "sk", "unionid": "u1"}   # jscode2session
    fake.fail_next("/sns/jscode2session", {"errcode": -1, "errmsg": "system error"})
    fake.calls  -> [(method, path, query, body)]

Add an endpoint with `@route("GET", "/path")` on a function (fake, query, body) -> (status, dict | bytes), or
(status, bytes, headers) to send headers of its own. `@route(..., prefix=True)` matches every path under it;
such handlers (and any with `wants_request = True`) also get `request=` (method, raw path with query, headers).
WeChat Pay APIv3 lives in tests/fake_wechat/pay_v3.py.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import parse_qs, urlparse

ROUTES: dict[tuple[str, str], Callable] = {}
PREFIX_ROUTES: list[tuple[str, str, Callable]] = []


def route(method: str, path: str, *, prefix: bool = False):
    def register(fn):
        if prefix:
            fn.wants_request = True
            PREFIX_ROUTES.append((method, path, fn))
        else:
            ROUTES[(method, path)] = fn
        return fn

    return register


def _find_route(method: str, path: str) -> Callable | None:
    handler = ROUTES.get((method, path))
    if handler is None:
        handler = next((fn for m, p, fn in PREFIX_ROUTES if m == method and path.startswith(p)), None)
    return handler


def ok(**payload):
    return 200, {"errcode": 0, "errmsg": "ok", **payload}


def err(code: int, msg: str):
    return 200, {"errcode": code, "errmsg": msg}


class FakeWeChat:
    def __init__(self):
        self.codes: dict[str, dict] = {}
        self.phone_codes: dict[str, str | tuple[str, str]] = {}  # getPhoneNumber code -> phone or (phone, appid)
        self.used_codes: set[str] = set()
        self.apps: dict[str, str] = {}  # appid -> secret; empty means any secret is accepted
        self.tokens: dict[str, str] = {}  # access_token -> appid
        self.calls: list[tuple[str, str, dict, bytes]] = []
        self.failures: dict[str, list] = {}
        self.delay_seconds = 0.0
        self.on_call: dict[str, object] = {}  # path -> callable(), run in the server thread before it answers
        self.lock = threading.Lock()
        self.state: dict = {}  # room for endpoints to keep what they were told (cards, orders ...)
        self.httpd: ThreadingHTTPServer | None = None

    # --- programming ---
    def fail_next(self, path: str, payload: dict, status: int = 200, times: int = 1):
        self.failures.setdefault(path, []).extend([(status, payload)] * times)

    def calls_to(self, path: str) -> list:
        return [c for c in self.calls if c[1] == path]

    def reset(self):
        with self.lock:
            self.codes.clear()
            self.phone_codes.clear()
            self.used_codes.clear()
            self.calls.clear()
            self.failures.clear()
            self.state.clear()
            self.on_call.clear()
            self.delay_seconds = 0.0

    # --- access tokens ---
    def check_token(self, query: dict) -> str | None:
        return self.tokens.get(query.get("access_token", ""))

    # --- server ---
    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> FakeWeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self, method: str):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.calls.append((method, url.path, query, body))
                    queued = fake.failures.get(url.path)
                    failure = queued.pop(0) if queued else None
                observer = fake.on_call.get(url.path)
                if observer:
                    observer()  # e.g. a test looking at the database while the call is in flight
                if fake.delay_seconds:
                    import time

                    time.sleep(fake.delay_seconds)
                extra_headers: dict = {}
                if failure:
                    status, payload = failure
                else:
                    handler = _find_route(method, url.path)
                    if handler is None:
                        status, payload = 404, {"errcode": 404, "errmsg": f"fake wechat: no route {url.path}"}
                    elif getattr(handler, "wants_request", False):
                        request = SimpleNamespace(method=method, path=self.path, headers=self.headers)
                        status, payload, *rest = handler(fake, query, body, request=request)
                        extra_headers = rest[0] if rest else {}
                    else:
                        status, payload = handler(fake, query, body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                ctype = "text/xml" if raw.startswith(b"<xml") else "application/json; charset=utf-8"
                if isinstance(payload, bytes) and not raw.startswith(b"<xml"):
                    ctype = "image/jpeg"
                ctype = extra_headers.pop("Content-Type", ctype)
                for name, value in extra_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


# --- endpoints -----------------------------------------------------------------------------------------------


@route("GET", "/cgi-bin/token")
def token(fake: FakeWeChat, query: dict, body: bytes):
    appid, secret = query.get("appid", ""), query.get("secret", "")
    if fake.apps and fake.apps.get(appid) != secret:
        return err(40125, "invalid appsecret")
    access_token = "AT_" + secrets.token_hex(16)
    fake.tokens[access_token] = appid
    return 200, {"access_token": access_token, "expires_in": 7200}


@route("GET", "/sns/jscode2session")
def jscode2session(fake: FakeWeChat, query: dict, body: bytes):
    code = query.get("js_code", "")
    if fake.apps and fake.apps.get(query.get("appid", "")) != query.get("secret"):
        return err(40125, "invalid appsecret")
    with fake.lock:
        if code in fake.used_codes:
            return err(40163, "code been used")
        session = fake.codes.get(code)
        if session is None:
            return err(40029, "invalid code")
        fake.used_codes.add(code)
    return 200, dict(session)


@route("POST", "/wxa/business/getuserphonenumber")
def get_user_phone_number(fake: FakeWeChat, query: dict, body: bytes):
    """Program it with `fake.phone_codes[code] = ("13800138000", appid)`; each code works once, as WeChat's."""
    import time as _time

    appid = fake.check_token(query)
    if appid is None:
        return err(40001, "invalid credential, access_token is invalid or not latest")
    try:
        code = json.loads(body or b"{}").get("code", "")
    except (ValueError, AttributeError):
        return err(47001, "data format error")
    with fake.lock:
        entry = fake.phone_codes.get(code)
        if entry is None or code in fake.used_codes:
            return err(40029, "invalid code")
        fake.used_codes.add(code)
    phone, issued_to = entry if isinstance(entry, tuple) else (entry, appid)
    return ok(
        phone_info={
            "phoneNumber": phone,
            "purePhoneNumber": phone,
            "countryCode": "86",
            "watermark": {"timestamp": int(_time.time()), "appid": issued_to},
        }
    )


# --- WeChat Pay v2 (XML, signed with the merchant's API key) ---------------------------------------------------
# Program it with `fake.merchant(mch_id, key, appid)`; `fake.pay_notification(out_trade_no)` builds the signed
# notification WeChat would post once the buyer paid (and marks the order paid at the fake).


def _pay_sign(params: dict, key: str, sign_type: str = "MD5") -> str:
    import hashlib
    import hmac

    raw = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "sign" and params[k] not in ("", None))
    raw += f"&key={key}"
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), raw.encode(), hashlib.sha256).hexdigest().upper()
    return hashlib.md5(raw.encode()).hexdigest().upper()


def _xml(d: dict) -> bytes:
    parts = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in d.items())
    return f"<xml>{parts}</xml>".encode()


def _pay_reply(fake: FakeWeChat, mch_id: str, sign_type: str, payload: dict):
    key = fake.state["merchants"][mch_id]["key"]
    body = {"return_code": "SUCCESS", "return_msg": "OK", "nonce_str": secrets.token_hex(8), **payload}
    body["sign"] = _pay_sign(body, key, sign_type)
    return 200, _xml(body)


def _pay_request(fake: FakeWeChat, body: bytes):
    import xmltodict

    try:
        data = dict(xmltodict.parse(body)["xml"])
    except Exception:
        return None, (200, _xml({"return_code": "FAIL", "return_msg": "XML format error"}))
    merchant = fake.state.get("merchants", {}).get(data.get("mch_id", ""))
    if merchant is None:
        return None, (200, _xml({"return_code": "FAIL", "return_msg": "mch_id invalid"}))
    sign_type = data.get("sign_type", "MD5")
    if data.get("sign") != _pay_sign(data, merchant["key"], sign_type):
        return None, (200, _xml({"return_code": "FAIL", "return_msg": "sign error"}))
    if data.get("appid") != merchant["appid"]:
        return None, (200, _xml({"return_code": "FAIL", "return_msg": "appid and mch_id do not match"}))
    return data, None


def _fake_merchant(self, mch_id: str, key: str, appid: str) -> None:
    self.state.setdefault("merchants", {})[mch_id] = {"key": key, "appid": appid}


def _fake_pay_notification(
    self, out_trade_no: str, *, total_fee: int | None = None, sign_key: str | None = None, time_end: str | None = None
) -> dict:
    """The notification WeChat posts for a paid order (as the parsed XML dict); marks it paid here."""
    import time as _time

    order = self.state["pay_orders"][out_trade_no]
    merchant = self.state["merchants"][order["mch_id"]]
    if order["trade_state"] == "CLOSED":
        raise AssertionError(f"fake wechat: order {out_trade_no} is closed and cannot be paid")
    if (
        order.get("time_expire")
        and order["trade_state"] == "NOTPAY"
        and _time.strftime("%Y%m%d%H%M%S", _time.gmtime(_time.time() + 8 * 3600)) > order["time_expire"]
    ):
        raise AssertionError(f"fake wechat: order {out_trade_no} expired at {order['time_expire']}")
    with self.lock:
        if order["trade_state"] != "SUCCESS":
            order["trade_state"] = "SUCCESS"
            order["transaction_id"] = "4200" + secrets.token_hex(12)
    data = {
        "appid": order["appid"],
        "mch_id": order["mch_id"],
        "nonce_str": secrets.token_hex(8),
        "result_code": "SUCCESS",
        "return_code": "SUCCESS",
        "openid": order["openid"],
        "trade_type": "JSAPI",
        "bank_type": "CMC",
        "total_fee": str(order["total_fee"] if total_fee is None else total_fee),
        "fee_type": "CNY",
        "cash_fee": str(order["total_fee"]),
        "transaction_id": order["transaction_id"],
        "out_trade_no": out_trade_no,
        "time_end": time_end or _time.strftime("%Y%m%d%H%M%S", _time.gmtime(_time.time() + 8 * 3600)),
    }
    if order["sign_type"] != "MD5":
        data["sign_type"] = order["sign_type"]
    data["sign"] = _pay_sign(data, sign_key or merchant["key"], order["sign_type"])
    return data


FakeWeChat.merchant = _fake_merchant
FakeWeChat.pay_notification = _fake_pay_notification


@route("POST", "/pay/unifiedorder")
def pay_unifiedorder(fake: FakeWeChat, query: dict, body: bytes):
    data, fail = _pay_request(fake, body)
    if fail:
        return fail
    missing = [
        k
        for k in ("body", "out_trade_no", "total_fee", "spbill_create_ip", "notify_url", "trade_type", "nonce_str")
        if not data.get(k)
    ]
    if data.get("trade_type") == "JSAPI" and not data.get("openid"):
        missing.append("openid")
    if missing:
        return 200, _xml({"return_code": "FAIL", "return_msg": f"missing {','.join(missing)}"})
    sign_type = data.get("sign_type", "MD5")
    orders = fake.state.setdefault("pay_orders", {})
    with fake.lock:
        existing = orders.get(data["out_trade_no"])
        if existing and existing["trade_state"] == "SUCCESS":
            return _pay_reply(
                fake,
                data["mch_id"],
                sign_type,
                {"result_code": "FAIL", "err_code": "ORDERPAID", "err_code_des": "order paid"},
            )
        if existing and existing["total_fee"] != int(data["total_fee"]):
            return _pay_reply(
                fake,
                data["mch_id"],
                sign_type,
                {"result_code": "FAIL", "err_code": "INVALID_REQUEST", "err_code_des": "out_trade_no reused"},
            )
        prepay_id = existing["prepay_id"] if existing else "wx" + secrets.token_hex(14)
        orders[data["out_trade_no"]] = {
            "appid": data["appid"],
            "mch_id": data["mch_id"],
            "openid": data["openid"],
            "total_fee": int(data["total_fee"]),
            "trade_state": "NOTPAY",
            "prepay_id": prepay_id,
            "sign_type": sign_type,
            "transaction_id": "",
            "refunds": {},
            "time_expire": data.get("time_expire", ""),
        }
    return _pay_reply(
        fake,
        data["mch_id"],
        sign_type,
        {
            "appid": data["appid"],
            "mch_id": data["mch_id"],
            "result_code": "SUCCESS",
            "prepay_id": prepay_id,
            "trade_type": "JSAPI",
        },
    )


@route("POST", "/pay/orderquery")
def pay_orderquery(fake: FakeWeChat, query: dict, body: bytes):
    data, fail = _pay_request(fake, body)
    if fail:
        return fail
    order = fake.state.get("pay_orders", {}).get(data.get("out_trade_no", ""))
    sign_type = data.get("sign_type", "MD5")
    if order is None:
        return _pay_reply(
            fake,
            data["mch_id"],
            sign_type,
            {"result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "order does not exist"},
        )
    return _pay_reply(
        fake,
        data["mch_id"],
        sign_type,
        {
            "appid": data["appid"],
            "mch_id": data["mch_id"],
            "result_code": "SUCCESS",
            "trade_state": order["trade_state"],
            "out_trade_no": data["out_trade_no"],
            "total_fee": str(order["total_fee"]),
            "transaction_id": order["transaction_id"],
        },
    )


@route("POST", "/pay/closeorder")
def pay_closeorder(fake: FakeWeChat, query: dict, body: bytes):
    data, fail = _pay_request(fake, body)
    if fail:
        return fail
    sign_type = data.get("sign_type", "MD5")
    order = fake.state.get("pay_orders", {}).get(data.get("out_trade_no", ""))
    if order is None:
        return _pay_reply(
            fake,
            data["mch_id"],
            sign_type,
            {"result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "order does not exist"},
        )
    with fake.lock:
        if order["trade_state"] in ("SUCCESS", "REFUND"):
            return _pay_reply(
                fake,
                data["mch_id"],
                sign_type,
                {"result_code": "FAIL", "err_code": "ORDERPAID", "err_code_des": "order paid"},
            )
        order["trade_state"] = "CLOSED"
    return _pay_reply(
        fake, data["mch_id"], sign_type, {"appid": data["appid"], "mch_id": data["mch_id"], "result_code": "SUCCESS"}
    )


@route("POST", "/secapi/pay/refund")
def pay_refund(fake: FakeWeChat, query: dict, body: bytes):
    data, fail = _pay_request(fake, body)
    if fail:
        return fail
    sign_type = data.get("sign_type", "MD5")
    order = fake.state.get("pay_orders", {}).get(data.get("out_trade_no", ""))
    if order is None or order["trade_state"] not in ("SUCCESS", "REFUND"):
        return _pay_reply(
            fake,
            data["mch_id"],
            sign_type,
            {"result_code": "FAIL", "err_code": "ORDERNOTEXIST", "err_code_des": "order not paid"},
        )
    if int(data.get("total_fee", 0)) != order["total_fee"] or int(data.get("refund_fee", 0)) > order["total_fee"]:
        return _pay_reply(
            fake,
            data["mch_id"],
            sign_type,
            {"result_code": "FAIL", "err_code": "INVALID_REQUEST", "err_code_des": "fee mismatch"},
        )
    with fake.lock:
        refund_id = order["refunds"].setdefault(data["out_refund_no"], "5030" + secrets.token_hex(10))
        order["trade_state"] = "REFUND"
    return _pay_reply(
        fake,
        data["mch_id"],
        sign_type,
        {
            "appid": data["appid"],
            "mch_id": data["mch_id"],
            "result_code": "SUCCESS",
            "out_trade_no": data["out_trade_no"],
            "out_refund_no": data["out_refund_no"],
            "refund_id": refund_id,
            "refund_fee": data["refund_fee"],
            "total_fee": data["total_fee"],
            "cash_fee": data["total_fee"],
        },
    )


@route("POST", "/mmpaymkttransfers/promotion/transfers")
def pay_transfer(fake: FakeWeChat, query: dict, body: bytes):
    """企业付款到零钱: one payment per partner_trade_no (a repeat answers the first payment_no)."""
    import xmltodict

    try:  # this API names the merchant mchid and the app mch_appid
        data = dict(xmltodict.parse(body)["xml"])
    except Exception:
        return 200, _xml({"return_code": "FAIL", "return_msg": "XML format error"})
    merchant = fake.state.get("merchants", {}).get(data.get("mchid", ""))
    sign_type = data.get("sign_type", "MD5")
    if merchant is None or data.get("sign") != _pay_sign(data, merchant["key"], sign_type):
        return 200, _xml({"return_code": "FAIL", "return_msg": "mchid or sign invalid"})
    if data.get("mch_appid") != merchant["appid"] or not data.get("openid") or int(data.get("amount", 0)) < 30:
        return _pay_reply(
            fake,
            data["mchid"],
            sign_type,
            {"result_code": "FAIL", "err_code": "PARAM_ERROR", "err_code_des": "bad parameters"},
        )
    with fake.lock:
        transfers = fake.state.setdefault("transfers", {})
        first = transfers.setdefault(
            data["partner_trade_no"],
            {"payment_no": "1000" + secrets.token_hex(10), "openid": data["openid"], "amount": int(data["amount"])},
        )
    return _pay_reply(
        fake,
        data["mchid"],
        sign_type,
        {
            "mch_appid": data["mch_appid"],
            "mchid": data["mchid"],
            "result_code": "SUCCESS",
            "partner_trade_no": data["partner_trade_no"],
            "payment_no": first["payment_no"],
            "payment_time": "2026-01-01 00:00:00",
        },
    )


@route("POST", "/wxa/getwxacodeunlimit")
def wxa_code_unlimited(fake: FakeWeChat, query: dict, body: bytes):
    if fake.check_token(query) is None:
        return err(40001, "invalid credential, access_token is invalid or not latest")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return err(47001, "data format error")
    scene = data.get("scene", "")
    if not scene or len(scene) > 32:
        return err(40169, "invalid length for scene, or the data is not json string")
    return 200, b"\xff\xd8\xff\xe0FAKEJPEG:" + scene.encode()


# The mini-program live endpoints (wxaapi/broadcast/*, wxa/business/*) and media upload live in their own module.
from tests.fake_wechat import live as _live_routes  # noqa: E402,F401
from tests.fake_wechat import (  # noqa: E402  (registering the WeChat Pay APIv3 endpoints and 商家转账)
    pay_v3,  # noqa: F401
    transfer_v3,  # noqa: F401
)
