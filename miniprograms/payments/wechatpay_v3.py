"""WeChat Pay APIv3 in service-provider mode: the platform (tenants.WeChatPayProvider) is the service provider,
the brand or the store's franchisee the sub-merchant (`sub_mchid`), the brand's mini-program the `sub_appid`.

Requests are signed and answers verified by wechatpayv3 (tenants.wechatpay.PartnerClient); an answer that does
not verify is a PaymentUnavailable, like WeChat being down. Amounts in fen. Notifications reach us through the
callbacks app (`/wechat/pay/v3/notify/<appid>/`), verified and decrypted there; `verify_notification` here checks
that a decrypted resource is a payment of THIS sub-merchant and mini-program.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from wechatpayv3 import SignType

from miniprograms.payments.base import (
    InvalidNotification,
    OrderPaidAtGateway,
    PaymentNotification,
    PaymentUnavailable,
    PrepayResult,
    QueryResult,
    RefundResult,
)
from tenants.models import WeChatApp
from tenants.wechatpay import PartnerClient

SHANGHAI = ZoneInfo("Asia/Shanghai")
NAME = WeChatApp.PayApi.V3


def notify_url(appid: str) -> str:
    """From the platform's public base URL (EKR_PUBLIC_BASE_URL); none configured: payments do not start."""
    template = settings.WECHATPAY_V3_NOTIFY_URL
    if not template:
        raise PaymentUnavailable(
            _("Payments are not configured: set EKR_PUBLIC_BASE_URL."), code="payment_not_configured", status_code=503
        )
    return template.format(appid=appid)


class WeChatPayV3Gateway:
    name = NAME

    def __init__(self, app: WeChatApp, client: PartnerClient, sub_mchid: str):
        self.app = app
        self.client = client
        self.sub_mchid = sub_mchid

    @property
    def mchid(self) -> str:
        return self.sub_mchid

    # --- requests ---
    def _call(self, method, **kwargs) -> tuple[int, dict]:
        try:
            code, text = method(**kwargs)
        except Exception as exc:  # network errors, and answers whose signature does not verify
            raise PaymentUnavailable(_("WeChat Pay could not be reached or answered unsigned.")) from exc
        try:
            body = json.loads(text) if text else {}
        except (TypeError, ValueError):
            body = {}
        if not 200 <= code < 300:
            wechat_code = str(body.get("code") or code)
            raise PaymentUnavailable(
                _("WeChat Pay refused: %(code)s %(message)s"),
                params={"code": wechat_code, "message": body.get("message", "")},
                fields={"wechat": [wechat_code]},
            )
        return code, body

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
        kwargs = {
            "description": description[:127],
            "out_trade_no": out_trade_no,
            "amount": {"total": int(total_fen), "currency": "CNY"},
            "payer": {"sub_openid": openid},
            "notify_url": notify_url(self.app.appid),
            "sub_mchid": self.sub_mchid,
            "sub_appid": self.app.appid,
        }
        if time_expire is not None:
            kwargs["time_expire"] = time_expire.astimezone(SHANGHAI).isoformat(timespec="seconds")
        if client_ip:
            kwargs["scene_info"] = {"payer_client_ip": client_ip}
        _status, body = self._call(self.client.pay, **kwargs)
        prepay_id = body.get("prepay_id") or ""
        if not prepay_id:
            raise PaymentUnavailable(_("WeChat Pay answered without a prepay_id."))
        # wx.requestPayment in partner mode is signed for the sub_appid the buyer pays in (the mini-program).
        timestamp, nonce, package = str(int(time.time())), secrets.token_hex(16), f"prepay_id={prepay_id}"
        pay_sign = self.client.sign([self.app.appid, timestamp, nonce, package], SignType.RSA_SHA256)
        return PrepayResult(
            prepay_id=prepay_id,
            request_payment={
                "timeStamp": timestamp,
                "nonceStr": nonce,
                "package": package,
                "signType": "RSA",
                "paySign": pay_sign,
            },
        )

    def query(self, *, out_trade_no: str) -> QueryResult:
        _, body = self._call(self.client.query, out_trade_no=out_trade_no, sub_mchid=self.sub_mchid)
        state = str(body.get("trade_state", ""))
        total = (body.get("amount") or {}).get("total")
        return QueryResult(
            out_trade_no=out_trade_no,
            paid=state == "SUCCESS",
            state=state,
            transaction_id=str(body.get("transaction_id") or ""),
            total_fen=int(total) if total is not None else None,
        )

    def close(self, *, out_trade_no: str) -> None:
        """Close the unpaid WeChat order (204). An order already closed or never created there is fine; a paid
        one raises OrderPaidAtGateway."""
        try:
            self._call(self.client.close, out_trade_no=out_trade_no, sub_mchid=self.sub_mchid)
        except PaymentUnavailable as exc:
            code = (exc.fields or {}).get("wechat", [""])[0]
            if code in ("ORDER_CLOSED", "ORDER_NOT_EXIST", "ORDERNOTEXIST"):
                return
            if code == "ORDERPAID":
                raise OrderPaidAtGateway(_("The order was paid before it could be closed.")) from exc
            raise

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, total_fen: int, refund_fen: int, reason: str = ""
    ) -> RefundResult:
        """Refund `refund_fen` of the order's `total_fen` (partial refunds: several out_refund_no, each at most
        what is left). Idempotent at WeChat by out_refund_no. The outcome arrives as a refund notification."""
        _, body = self._call(
            self.client.refund,
            out_refund_no=out_refund_no,
            out_trade_no=out_trade_no,
            amount={"refund": int(refund_fen), "total": int(total_fen), "currency": "CNY"},
            reason=reason[:80] or None,
            notify_url=notify_url(self.app.appid),
            sub_mchid=self.sub_mchid,
        )
        return RefundResult(
            out_refund_no=out_refund_no,
            refund_id=str(body.get("refund_id") or ""),
            status=str(body.get("status") or ""),
        )

    def abnormal_refund(self, *, refund_id: str, out_refund_no: str) -> RefundResult:
        """发起异常退款 of a refund WeChat reported ABNORMAL: the money goes to the sub-merchant's bank account
        (MERCHANT_BANK_CARD), for the store to pay the member. Keyed by out_refund_no at WeChat."""
        _, body = self._call(
            self.client.abnormal_refund,
            refund_id=refund_id,
            out_refund_no=out_refund_no,
            type="MERCHANT_BANK_CARD",
            sub_mchid=self.sub_mchid,
        )
        return RefundResult(
            out_refund_no=out_refund_no,
            refund_id=str(body.get("refund_id") or refund_id),
            status=str(body.get("status") or ""),
        )

    # --- notifications (resources already verified and decrypted by the callbacks app) ---
    def verify_notification(self, data: dict) -> PaymentNotification:
        if not isinstance(data, dict):
            raise InvalidNotification(_("The notification is malformed."))
        if data.get("sp_mchid") != self.client.provider.sp_mchid or data.get("sub_mchid") != self.sub_mchid:
            raise InvalidNotification(_("The notification is for another merchant."))
        if data.get("sub_appid") not in (None, self.app.appid):
            raise InvalidNotification(_("The notification is for another mini-program."))
        if data.get("trade_state") != "SUCCESS":
            raise InvalidNotification(_("The notification does not report a payment."), code="not_paid")
        try:
            total_fen = int((data.get("amount") or {})["total"])
            paid_at = datetime.fromisoformat(str(data["success_time"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidNotification(_("The notification is malformed.")) from exc
        return PaymentNotification(
            out_trade_no=str(data.get("out_trade_no", "")),
            transaction_id=str(data.get("transaction_id", "")),
            total_fen=total_fen,
            paid_at=paid_at,
            appid=self.app.appid,
            openid=str((data.get("payer") or {}).get("sub_openid", "")),
            raw=data,
        )
