"""Callbacks as WeChat sends them, built with wechatpy's own crypto and signing."""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlencode

from wechatpy.crypto import WeChatCrypto
from wechatpy.pay.utils import calculate_signature, calculate_signature_hmac, dict_to_xml
from wechatpy.utils import WeChatSigner


def sign(*parts: str) -> str:
    signer = WeChatSigner()
    signer.add_data(*parts)
    return signer.signature


def event_xml(
    *,
    event: str = "user_get_card",
    from_user: str = "oUser0001",
    create_time: int | None = None,
    msg_type: str = "event",
    msg_id: str | None = None,
    **fields: str,
) -> str:
    create_time = create_time or int(time.time())
    body = [
        "<ToUserName><![CDATA[gh_brand]]></ToUserName>",
        f"<FromUserName><![CDATA[{from_user}]]></FromUserName>",
        f"<CreateTime>{create_time}</CreateTime>",
        f"<MsgType><![CDATA[{msg_type}]]></MsgType>",
    ]
    if msg_type == "event":
        body.append(f"<Event><![CDATA[{event}]]></Event>")
    if msg_id:
        body.append(f"<MsgId>{msg_id}</MsgId>")
    body += [f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()]
    return "<xml>" + "".join(body) + "</xml>"


class WeChatSender:
    """Builds (path, body) for one app, in plaintext, compatible or safe mode, as WeChat would."""

    def __init__(self, appid: str, token: str, aes_key: str):
        self.appid, self.token, self.aes_key = appid, token, aes_key

    @property
    def path(self) -> str:
        return f"/wechat/callback/{self.appid}/"

    def check(self, *, echostr: str = "echo-123", timestamp: int | None = None) -> str:
        ts, nonce = str(timestamp or int(time.time())), "n" + uuid.uuid4().hex[:8]
        return (
            self.path
            + "?"
            + urlencode({"signature": sign(self.token, ts, nonce), "timestamp": ts, "nonce": nonce, "echostr": echostr})
        )

    def plain(self, xml: str, *, timestamp: int | None = None, token: str | None = None) -> tuple[str, str]:
        ts, nonce = str(timestamp or int(time.time())), "n" + uuid.uuid4().hex[:8]
        query = {
            "signature": sign(token or self.token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": "oUser0001",
        }
        return self.path + "?" + urlencode(query), xml

    def safe(
        self, xml: str, *, timestamp: int | None = None, compatible: bool = False, crypto: WeChatCrypto | None = None
    ) -> tuple[str, str]:
        ts, nonce = str(timestamp or int(time.time())), "n" + uuid.uuid4().hex[:8]
        crypto = crypto or WeChatCrypto(self.token, self.aes_key, self.appid)
        envelope = crypto.encrypt_message(xml, nonce, ts)
        import xmltodict
        from wechatpy.utils import to_text

        fields = xmltodict.parse(to_text(envelope))["xml"]
        body = f"<xml><ToUserName><![CDATA[gh_brand]]></ToUserName><Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>"
        if compatible:  # compatible mode: the plaintext fields and the ciphertext side by side
            body = xml.replace("</xml>", f"<Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>")
        query = {
            "signature": sign(self.token, ts, nonce),
            "timestamp": ts,
            "nonce": nonce,
            "openid": "oUser0001",
            "encrypt_type": "aes",
            "msg_signature": fields["MsgSignature"],
        }
        return self.path + "?" + urlencode(query), body


def pay_xml(
    *,
    appid: str,
    mch_id: str,
    key: str,
    sign_type: str = "MD5",
    out_trade_no: str = "T0001",
    transaction_id: str = "4200000001",
    total_fee: int = 990,
    time_end: str | None = None,
    declare_sign_type: bool | None = None,
    **extra: str,
) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    params = {
        "return_code": "SUCCESS",
        "result_code": "SUCCESS",
        "appid": appid,
        "mch_id": mch_id,
        "nonce_str": uuid.uuid4().hex,
        "openid": "oUser0001",
        "trade_type": "JSAPI",
        "bank_type": "CMC",
        "total_fee": str(total_fee),
        "cash_fee": str(total_fee),
        "fee_type": "CNY",
        "transaction_id": transaction_id,
        "out_trade_no": out_trade_no,
        "is_subscribe": "N",
        "time_end": time_end or datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S"),
        **extra,
    }
    if declare_sign_type if declare_sign_type is not None else sign_type != "MD5":
        params["sign_type"] = sign_type
    signature = (
        calculate_signature_hmac(params, key) if sign_type == "HMAC-SHA256" else calculate_signature(params, key)
    )
    return dict_to_xml(params, signature)
