"""The payment interface orders depend on. A gateway is built for one mini-program appid (the brand's merchant
account behind it); implementations: wechatpay_v2.WeChatPayV2Gateway. A Pay v3 service-provider gateway (the
platform as service provider, the brand as sub-merchant) implements the same Protocol and is chosen here."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from core.errors import ApplicationError


class PaymentUnavailable(ApplicationError):
    code = "payment_unavailable"
    status_code = 502


class InvalidNotification(ApplicationError):
    """A notification whose signature, merchant or time does not check out. It changes nothing."""

    code = "invalid_notification"
    status_code = 400


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


class PaymentGateway(Protocol):
    def create_prepay(self, *, out_trade_no: str, total_fen: int, description: str, openid: str,
                      client_ip: str = "") -> PrepayResult: ...

    def query(self, *, out_trade_no: str) -> QueryResult: ...

    def refund(self, *, out_trade_no: str, out_refund_no: str, total_fen: int, refund_fen: int,
               reason: str = "") -> RefundResult: ...

    def verify_notification(self, data: dict) -> PaymentNotification: ...
