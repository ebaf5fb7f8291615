"""The payment interface orders depend on. A gateway is built for one mini-program appid and one merchant;
implementations: wechatpay_v2.WeChatPayV2Gateway (the brand's own merchant key) and wechatpay_v3.WeChatPayV3Gateway
(APIv3, the platform as service provider, the brand or the store's franchisee as sub-merchant).

Which gateway: an order's payment stays with the gateway and merchant that created it (Order.pay_gateway,
pay_mchid, stamped at its first prepay by `order_payment_route_stamp`), so a brand can move from v2 to v3 with
orders in flight. An order not stamped yet follows the mini-program's `pay_api`; for v3 the store's franchisee's
sub-merchant, else the brand's default. The factory is payments.gateways."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError


class PaymentUnavailable(ApplicationError):
    code = "payment_unavailable"
    status_code = 502


class InvalidNotification(ApplicationError):
    """A notification whose signature, merchant or time does not check out. It changes nothing."""

    code = "invalid_notification"
    status_code = 400


class OrderPaidAtGateway(ApplicationError):
    """`close` found the order already paid at the gateway: it cannot be closed; its payment must be handled."""

    code = "order_paid_at_gateway"
    status_code = 409


def notify_url(appid: str) -> str:
    """Where WeChat Pay posts this app's notifications: from the platform's public base URL
    (settings.WECHATPAY_NOTIFY_URL, derived from EKR_PUBLIC_BASE_URL). None configured: payments do not start
    (a prepay whose notifications go nowhere would take money ekr never hears of)."""
    from django.conf import settings

    template = settings.WECHATPAY_NOTIFY_URL
    if not template:
        raise PaymentUnavailable(
            _("Payments are not configured: set EKR_PUBLIC_BASE_URL."), code="payment_not_configured", status_code=503
        )
    return template.format(appid=appid)


@dataclass(frozen=True)
class PrepayResult:
    prepay_id: str
    # What the mini-program passes to wx.requestPayment: timeStamp, nonceStr, package, signType, paySign.
    request_payment: dict[str, str]


@dataclass(frozen=True)
class PaymentNotification:
    """A verified 'paid' notification."""

    out_trade_no: str
    transaction_id: str
    total_fen: int
    paid_at: datetime | None
    appid: str
    openid: str = ""
    raw: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class QueryResult:
    out_trade_no: str
    paid: bool
    state: str  # SUCCESS, NOTPAY, CLOSED, REFUND, ...
    transaction_id: str = ""
    total_fen: int | None = None


@dataclass(frozen=True)
class RefundResult:
    out_refund_no: str
    refund_id: str
    status: str = ""  # v3: SUCCESS, PROCESSING (the outcome then comes as a refund notification), ...


class PaymentGateway(Protocol):
    """What orders need from a payment provider. Every method is safe to call again with the same arguments."""

    name: str  # WeChatApp.PayApi value
    mchid: str  # the merchant paid (v3: the sub-merchant)

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
        """A prepay the buyer can pay until `time_expire` (aware datetime; the gateway refuses payment after it)."""
        ...

    def query(self, *, out_trade_no: str) -> QueryResult: ...

    def close(self, *, out_trade_no: str) -> None:
        """Close the order at the gateway so that it can no longer be paid. Closing an order that is already
        closed or was never created there succeeds; an order already paid raises OrderPaidAtGateway; the gateway
        unreachable raises PaymentUnavailable."""
        ...

    def refund(
        self, *, out_trade_no: str, out_refund_no: str, total_fen: int, refund_fen: int, reason: str = ""
    ) -> RefundResult: ...

    def verify_notification(self, data: dict) -> PaymentNotification: ...
