"""WeChat Pay v2 (JSAPI, XML, MD5 or HMAC-SHA256 with the merchant's API key) through wechatpy's pay module.

Beyond wechatpy: the sign type is the merchant's configured one for requests, wx.requestPayment parameters,
responses and notifications; every signature is compared in constant time; notifications must name our appid
and mch_id and must not be far in the past or the future. Base URL from settings.WECHATPAY_API_BASE_URL.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from wechatpy.exceptions import WeChatPayException
from wechatpy.pay import WeChatPay
from wechatpy.pay.utils import format_url

from miniprograms.payments.base import (
    InvalidNotification,
    OrderPaidAtGateway,
    PaymentNotification,
    PaymentUnavailable,
    PrepayResult,
    QueryResult,
    RefundResult,
    notify_url,
)
from tenants.models import WeChatApp

NOTIFY_MAX_AGE = timedelta(hours=48)  # WeChat retries for about 24 h
NOTIFY_MAX_FUTURE = timedelta(minutes=10)


def sign(params: dict, key: str, sign_type: str) -> str:
    """WeChat Pay v2 signature of `params` (without `sign`; empty values skipped)."""
    payload = format_url({k: v for k, v in params.items() if k != "sign"}, key)
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), payload, hashlib.sha256).hexdigest().upper()
    return hashlib.md5(payload).hexdigest().upper()


def signature_ok(params: dict, key: str, sign_type: str) -> bool:
    given = str(params.get("sign") or "")
    return bool(given) and hmac.compare_digest(given.encode(), sign(params, key, sign_type).encode())


class _Client(WeChatPay):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        base = settings.WECHATPAY_API_BASE_URL
        self.API_BASE_URL = base if base.endswith("/") else base + "/"


_private_dir: str | None = None
_written: dict[str, tuple[str, str]] = {}


def _private_directory() -> str:
    """This process's own directory for key files: created by mkdtemp (a fresh, unguessable name, mode 0700,
    atomically), checked to be a real directory owned by us and closed to others, removed at exit."""
    import atexit
    import os
    import shutil
    import stat
    import tempfile

    global _private_dir
    if _private_dir is None or not os.path.isdir(_private_dir):
        path = tempfile.mkdtemp(prefix="ekr-wxpay-", dir=settings.EKR_PRIVATE_DIR or None)
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            raise PaymentUnavailable(_("The private key directory is not private."))
        atexit.register(shutil.rmtree, path, True)
        _private_dir = path
        _written.clear()
    return _private_dir


def client_cert_files(app: WeChatApp) -> tuple[str, str] | tuple[None, None]:
    """The merchant's client certificate and key as files (requests wants paths), in this process's private
    directory, each created exclusively (O_EXCL, O_NOFOLLOW, 0600): nothing another user placed can be followed
    or read back. Written once per process and content. (None, None) when the app has no certificate."""
    if not (app.mch_cert_pem and app.mch_cert_key_pem):
        return None, None
    import hashlib
    import os

    digest = hashlib.sha256((app.mch_cert_pem + app.mch_cert_key_pem).encode()).hexdigest()[:16]
    folder = _private_directory()
    key = f"{app.appid}-{digest}"
    if key in _written and all(os.path.isfile(p) for p in _written[key]):
        return _written[key]
    paths = []
    for suffix, text in (("cert", app.mch_cert_pem), ("key", app.mch_cert_key_pem)):
        path = os.path.join(folder, f"{key}-{suffix}-{os.urandom(4).hex()}.pem")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text)
        paths.append(path)
    _written[key] = (paths[0], paths[1])
    return _written[key]


class WeChatPayV2Gateway:
    name = WeChatApp.PayApi.V2

    @property
    def mchid(self) -> str:
        return self.app.mch_id

    def __init__(self, app: WeChatApp):
        self.app = app
        self.sign_type = app.pay_sign_type
        cert, key = client_cert_files(app)  # wechatpy sends it with every call; refunds require it
        self.client = _Client(
            app.appid,
            api_key=app.mch_key,
            mch_id=app.mch_id,
            mch_cert=cert,
            mch_key=key,
            timeout=settings.WECHAT_HTTP_TIMEOUT,
        )

    # --- requests ---
    def _post(self, endpoint: str, data: dict) -> dict:
        data = dict(data, appid=self.app.appid)
        if self.sign_type != "MD5":
            data["sign_type"] = self.sign_type
        try:
            result = self.client.post(endpoint, data=data)
        except WeChatPayException as exc:
            raise PaymentUnavailable(
                _("WeChat Pay refused: %(code)s %(message)s"),
                params={"code": exc.errcode or exc.return_code, "message": exc.errmsg or exc.return_msg},
                fields={"wechat": [str(exc.errcode or exc.return_code)]},
            ) from exc
        except Exception as exc:  # network errors
            raise PaymentUnavailable(_("WeChat Pay could not be reached.")) from exc
        if not isinstance(result, dict) or not signature_ok(result, self.app.mch_key, self.sign_type):
            raise PaymentUnavailable(_("WeChat Pay answered with a bad signature."))
        return result

    def create_prepay(
        self,
        *,
        out_trade_no: str,
        total_fen: int,
        description: str,
        openid: str,
        client_ip: str = "",
        time_expire: datetime | None = None,
    ) -> PrepayResult:
        request = {
            "trade_type": "JSAPI",
            "body": description[:120],
            "out_trade_no": out_trade_no,
            "total_fee": int(total_fen),
            "fee_type": "CNY",
            "openid": openid,
            "spbill_create_ip": client_ip or "127.0.0.1",
            "notify_url": notify_url(self.app.appid),
        }
        if time_expire is not None:
            request["time_expire"] = _format_time(time_expire)
        result = self._post("pay/unifiedorder", request)
        prepay_id = result.get("prepay_id") or ""
        if not prepay_id:
            raise PaymentUnavailable(_("WeChat Pay answered without a prepay_id."))
        params = {
            "appId": self.app.appid,
            "timeStamp": str(int(time.time())),
            "nonceStr": secrets.token_hex(16),
            "package": f"prepay_id={prepay_id}",
            "signType": self.sign_type,
        }
        params["paySign"] = sign(params, self.app.mch_key, self.sign_type)
        del params["appId"]  # wx.requestPayment takes the rest; appId is implied by the mini-program
        return PrepayResult(prepay_id=prepay_id, request_payment=params)

    def query(self, *, out_trade_no: str) -> QueryResult:
        result = self._post("pay/orderquery", {"out_trade_no": out_trade_no})
        state = result.get("trade_state", "")
        fee = result.get("total_fee")
        return QueryResult(
            out_trade_no=out_trade_no,
            paid=state == "SUCCESS",
            state=state,
            transaction_id=result.get("transaction_id", ""),
            total_fen=int(fee) if fee not in (None, "") else None,
        )

    def close(self, *, out_trade_no: str) -> None:
        try:
            self._post("pay/closeorder", {"out_trade_no": out_trade_no})
        except PaymentUnavailable as exc:
            code = (exc.fields or {}).get("wechat", [""])[0]
            if code in ("ORDERCLOSED", "ORDERNOTEXIST"):
                return
            if code == "ORDERPAID":
                raise OrderPaidAtGateway(_("The order was paid before it could be closed.")) from exc
            raise

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, total_fen: int, refund_fen: int, reason: str = ""
    ) -> RefundResult:
        # WeChat refuses refunds without the merchant's client certificate (WeChatApp.mch_cert_pem / key).
        result = self._post(
            "secapi/pay/refund",
            {
                "out_trade_no": out_trade_no,
                "out_refund_no": out_refund_no,
                "total_fee": int(total_fen),
                "refund_fee": int(refund_fen),
                "refund_desc": reason[:80],
            },
        )
        return RefundResult(out_refund_no=out_refund_no, refund_id=result.get("refund_id", ""))

    def transfer(self, *, partner_trade_no: str, openid: str, amount_fen: int, description: str) -> str:
        """企业付款到零钱: pay `amount_fen` to `openid`; WeChat pays a partner_trade_no once. Returns payment_no."""
        result = self._post(
            "mmpaymkttransfers/promotion/transfers",
            {
                "mch_appid": self.app.appid,
                "mchid": self.app.mch_id,
                "partner_trade_no": partner_trade_no,
                "openid": openid,
                "check_name": "NO_CHECK",
                "amount": int(amount_fen),
                "desc": description[:100],
                "spbill_create_ip": "127.0.0.1",
            },
        )
        return str(result.get("payment_no", ""))

    # --- notifications ---
    def verify_notification(self, data: dict) -> PaymentNotification:
        if not isinstance(data, dict) or not signature_ok(data, self.app.mch_key, self.sign_type):
            raise InvalidNotification(_("The notification's signature does not check out."))
        if data.get("appid") != self.app.appid or data.get("mch_id") != self.app.mch_id:
            raise InvalidNotification(_("The notification is for another merchant."))
        if data.get("return_code") != "SUCCESS" or data.get("result_code") != "SUCCESS":
            raise InvalidNotification(_("The notification does not report a payment."), code="not_paid")
        try:
            total_fen = int(data["total_fee"])
            paid_at = _parse_time_end(data.get("time_end", ""))
        except (KeyError, ValueError) as exc:
            raise InvalidNotification(_("The notification is malformed.")) from exc
        now = timezone.now()
        if paid_at is None or paid_at < now - NOTIFY_MAX_AGE or paid_at > now + NOTIFY_MAX_FUTURE:
            raise InvalidNotification(_("The notification's time is far from now."), code="stale_notification")
        return PaymentNotification(
            out_trade_no=str(data.get("out_trade_no", "")),
            transaction_id=str(data.get("transaction_id", "")),
            total_fen=total_fen,
            paid_at=paid_at,
            appid=self.app.appid,
            openid=str(data.get("openid", "")),
            raw=data,
        )


def _format_time(value: datetime) -> str:
    """WeChat Pay v2 times: yyyyMMddHHmmss in Beijing time."""
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")


def _parse_time_end(value: str) -> datetime | None:
    if not value:
        return None
    naive = datetime.strptime(value, "%Y%m%d%H%M%S")  # Beijing time
    from zoneinfo import ZoneInfo

    return naive.replace(tzinfo=ZoneInfo("Asia/Shanghai"))
