"""Checks a WeChat callback before anything is stored as accepted: pure functions, no database.

- Messages and events (`/wechat/callback/<appid>/`): SHA-1 signature over token, timestamp and nonce (plaintext
  mode, only for an app without EncodingAESKey: an app with one never accepts plaintext), or over token,
  timestamp, nonce and the ciphertext (`msg_signature`, safe and compatible modes), then
  AES decryption with wechatpy's crypto. Signatures are compared in constant time (wechatpy compares with `!=`)
  and a timestamp further than EKR_CALLBACK_MAX_SKEW_SECONDS from now is refused (wechatpy does not look at it).
- WeChat Pay v2 notifications (`/wechat/pay/notify/<appid>/`): the merchant key's signature with the sign type
  the merchant configured (a notification claiming another sign type is refused: no downgrade to MD5), the
  appid and mch_id of the registry, and a `time_end` not older than EKR_CALLBACK_PAY_MAX_AGE_SECONDS (pay
  notifications are redelivered for about 24 h with their original content, so the request-level window of
  messages cannot apply).

- WeChat Pay APIv3 notifications (`/wechat/pay/v3/notify/<appid>/`): tenants.wechatpay checks the probe prefix,
  the timestamp (EKR_CALLBACK_MAX_SKEW_SECONDS: a v3 notification is signed afresh at each delivery), the serial,
  the RSA signature and decrypts the resource; here the resource must name this mini-program (sub_appid).

Every refusal is a `CallbackRejected` carrying the HTTP status, a stable code and a message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from xml.parsers.expat import ExpatError
from zoneinfo import ZoneInfo

import xmltodict
from wechatpy.crypto import PrpCrypto, WeChatCrypto
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac
from wechatpy.utils import WeChatSigner

from tenants.models import WeChatApp
from tenants.wechatpay import (
    NotificationRefused,
    PartnerClient,
    VerifiedNotification,
    verify_notification,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
_KIND_UNSAFE = re.compile(r"[^a-z0-9_.]")


class CallbackRejected(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _signature(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def _same(expected: str, given: str | None) -> bool:
    """Constant-time equality of two signatures (non-ASCII input compares as bytes, never raises)."""
    return hmac.compare_digest(expected.encode(), (given or "").encode("utf-8", "replace"))


def check_timestamp(timestamp: str | None, *, now: float, max_skew: int) -> None:
    try:
        value = int(timestamp or "")
    except ValueError:
        raise CallbackRejected(400, "bad_timestamp", "timestamp is missing or not a number.") from None
    if abs(now - value) > max_skew:
        raise CallbackRejected(403, "stale_timestamp", f"timestamp {value} is more than {max_skew}s from now.")


def check_plain_signature(app: WeChatApp, query: Mapping[str, str]) -> None:
    expected = _signature(app.token, query.get("timestamp", ""), query.get("nonce", ""))
    if not _same(expected, query.get("signature")):
        raise CallbackRejected(403, "bad_signature", "signature does not match.")


def verify_server_check(app: WeChatApp, query: Mapping[str, str], *, now: float, max_skew: int) -> str:
    """WeChat's URL check (GET): the echostr to answer with."""
    check_plain_signature(app, query)
    check_timestamp(query.get("timestamp"), now=now, max_skew=max_skew)
    echostr = query.get("echostr")
    if not echostr:
        raise CallbackRejected(400, "missing_echostr", "echostr is missing.")
    return echostr


def parse_xml(body: bytes | str) -> dict[str, Any]:
    """The fields under <xml> as a dict; anything else is a 400. Entities (and so entity bombs) are refused."""
    if not body:
        raise CallbackRejected(400, "not_xml", "The body is empty.")
    try:
        document = xmltodict.parse(body, disable_entities=True)
    except (ExpatError, ValueError, TypeError, UnicodeError) as exc:
        raise CallbackRejected(400, "not_xml", f"The body is not XML: {exc}") from None
    fields = document.get("xml") if isinstance(document, dict) and len(document) == 1 else None
    if not isinstance(fields, dict):
        raise CallbackRejected(400, "not_wechat_xml", "The body is not a WeChat <xml> document.")
    return fields


def body_signed(query: Mapping[str, str]) -> bool:
    """Safe or compatible mode: msg_signature covers the ciphertext (plaintext mode signs no body)."""
    return query.get("encrypt_type", "raw").lower() == "aes"


def verify_message(
    app: WeChatApp, query: Mapping[str, str], body: bytes, *, now: float, max_skew: int
) -> dict[str, Any]:
    """A verified message or event (decrypted in safe and compatible modes)."""
    if body_signed(query):
        if not app.aes_key:
            raise CallbackRejected(403, "no_aes_key", "An encrypted callback for an app without EncodingAESKey.")
        envelope = parse_xml(body)
        ciphertext = envelope.get("Encrypt")
        if not isinstance(ciphertext, str) or not ciphertext:
            raise CallbackRejected(400, "not_wechat_xml", "Encrypted mode without <Encrypt>.")
        expected = _signature(app.token, query.get("timestamp", ""), query.get("nonce", ""), ciphertext)
        if not _same(expected, query.get("msg_signature")):
            raise CallbackRejected(403, "bad_signature", "msg_signature does not match.")
        if "signature" in query:
            check_plain_signature(app, query)
        check_timestamp(query.get("timestamp"), now=now, max_skew=max_skew)
        message = parse_xml(decrypt(app, ciphertext))
    else:
        if app.aes_key:  # the operator chose safe mode: a request parameter cannot downgrade it
            raise CallbackRejected(
                403, "plaintext_refused", "This app has an EncodingAESKey: only encrypted callbacks are accepted."
            )
        check_plain_signature(app, query)
        check_timestamp(query.get("timestamp"), now=now, max_skew=max_skew)
        message = parse_xml(body)
    for field in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not isinstance(message.get(field), str) or not message[field]:
            raise CallbackRejected(400, "not_wechat_message", f"<{field}> is missing.")
    return message


def decrypt(app: WeChatApp, ciphertext: str) -> str:
    """AES-CBC decryption with wechatpy's PrpCrypto; the appid sealed inside must be this app's."""
    try:
        key = WeChatCrypto(app.token, app.aes_key, app.appid).key
        return PrpCrypto(key).decrypt(ciphertext, app.appid)
    except Exception:  # bad base64, bad padding, other appid: wechatpy raises several kinds
        raise CallbackRejected(403, "decrypt_failed", "The message does not decrypt for this app.") from None


def message_kind(message: Mapping[str, Any]) -> str:
    """'text', 'image'..., or 'event.<event>' ('event.user_get_card', 'event.subscribe')."""
    msg_type = str(message["MsgType"]).strip().lower()
    if msg_type == "event":
        event = message.get("Event")
        kind = f"event.{str(event).strip().lower()}" if isinstance(event, str) and event.strip() else "event"
    else:
        kind = msg_type
    return _KIND_UNSAFE.sub("_", kind)[:64]


def message_dedup_key(message: Mapping[str, Any]) -> str:
    """MsgId when there is one; else sender + create time + event (+ card code, card id, out_trade_no)."""
    msg_id = message.get("MsgId")
    if isinstance(msg_id, str) and msg_id.strip():
        return _bounded(f"msg:{msg_id.strip()}")
    parts = [
        message.get(name) for name in ("FromUserName", "CreateTime", "Event", "UserCardCode", "CardId", "OutTradeNo")
    ]
    return _bounded("evt:" + ":".join(p.strip() if isinstance(p, str) else "" for p in parts))


def _bounded(key: str) -> str:
    if len(key) <= 200:
        return key
    return key[:4] + "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def verify_pay_notification(app: WeChatApp, body: bytes, *, now: float, max_age: int, max_skew: int) -> dict[str, Any]:
    """A verified WeChat Pay v2 payment notification (the fields as strings)."""
    if not app.mch_id or not app.mch_key:
        raise CallbackRejected(404, "no_merchant", "This app has no WeChat Pay merchant.")
    params = parse_xml(body)
    if any(value is not None and not isinstance(value, str) for value in params.values()):
        raise CallbackRejected(400, "not_wechat_xml", "Nested elements in a pay notification.")
    if params.get("return_code") != "SUCCESS":
        raise CallbackRejected(400, "pay_return_fail", f"return_code is {params.get('return_code')!r}.")
    claimed_type = params.get("sign_type") or WeChatApp.PaySignType.MD5
    if claimed_type != app.pay_sign_type:
        raise CallbackRejected(
            403, "bad_sign_type", f"sign_type {claimed_type} but the merchant uses {app.pay_sign_type}."
        )
    unsigned = {k: v for k, v in params.items() if k != "sign"}
    if app.pay_sign_type == WeChatApp.PaySignType.HMAC_SHA256:
        expected = calculate_signature_hmac(unsigned, app.mch_key)
    else:
        expected = calculate_signature(unsigned, app.mch_key)
    if not _same(expected, params.get("sign")):
        raise CallbackRejected(403, "bad_signature", "sign does not match.")
    if params.get("appid") != app.appid or params.get("mch_id") != app.mch_id:
        raise CallbackRejected(403, "merchant_mismatch", "appid or mch_id is not this app's.")
    if not params.get("out_trade_no"):
        raise CallbackRejected(400, "not_wechat_message", "<out_trade_no> is missing.")
    _check_time_end(params.get("time_end"), now=now, max_age=max_age, max_skew=max_skew)
    return params


def _check_time_end(time_end: str | None, *, now: float, max_age: int, max_skew: int) -> None:
    if not time_end:
        return
    try:
        paid_at = datetime.strptime(time_end, "%Y%m%d%H%M%S").replace(tzinfo=SHANGHAI).timestamp()
    except ValueError:
        raise CallbackRejected(400, "bad_timestamp", "time_end is not yyyyMMddHHmmss.") from None
    if paid_at > now + max_skew or paid_at < now - max_age:
        raise CallbackRejected(403, "stale_timestamp", f"time_end {time_end} is too far from now.")


def pay_dedup_key(params: Mapping[str, Any]) -> str:
    return _bounded(f"pay:{params['out_trade_no']}:{params.get('transaction_id') or '-'}")


def verify_pay_v3_notification(
    client: PartnerClient, headers: Mapping[str, str], body: bytes, *, appid: str, now: float, max_skew: int
) -> VerifiedNotification:
    """A verified, decrypted WeChat Pay v3 notification for the mini-program `appid` (NotificationRefused)."""
    notification = verify_notification(client, headers, body, now=now, max_skew=max_skew)
    resource = notification.resource
    if resource.get("sub_appid") not in (None, appid):
        raise NotificationRefused(403, "merchant_mismatch", "sub_appid is not this mini-program.")
    if not resource.get("out_trade_no"):
        raise NotificationRefused(400, "not_wechat_message", "out_trade_no is missing.")
    return notification


def pay_v3_dedup_key(notification: VerifiedNotification) -> str:
    """A payment once per (order, transaction); a refund once per (refund, outcome)."""
    r = notification.resource
    if notification.event_type.startswith("REFUND."):
        return _bounded(f"refund3:{r.get('out_refund_no') or '-'}:{r.get('refund_status') or '-'}")
    return _bounded(f"pay3:{r['out_trade_no']}:{r.get('transaction_id') or '-'}")
