"""The payment interface orders depend on. A gateway is built for one mini-program appid and one merchant;
implementations: wechatpay_v2.WeChatPayV2Gateway (the brand's own merchant key) and wechatpay_v3.WeChatPayV3Gateway
(APIv3, the platform as service provider, the brand or the store's franchisee as sub-merchant).

Which gateway: an order's payment stays with the gateway and merchant that created it (Order.pay_gateway,
pay_mchid, stamped at its first prepay by `order_payment_route_stamp`), so a brand can move from v2 to v3 with
orders in flight. An order not stamped yet follows the mini-program's `pay_api`; for v3 the store's franchisee's
sub-merchant, else the brand's default."""
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
    status: str = ""  # v3: SUCCESS, PROCESSING (the outcome then comes as a refund notification), ...


class PaymentGateway(Protocol):
    name: str  # WeChatApp.PayApi value
    mchid: str  # the merchant paid (v3: the sub-merchant)

    def create_prepay(self, *, out_trade_no: str, total_fen: int, description: str, openid: str,
                      client_ip: str = "", time_expire: datetime | None = None) -> PrepayResult: ...

    def query(self, *, out_trade_no: str) -> QueryResult: ...

    def close(self, *, out_trade_no: str) -> None: ...

    def refund(self, *, out_trade_no: str, out_refund_no: str, total_fen: int, refund_fen: int,
               reason: str = "") -> RefundResult: ...

    def verify_notification(self, data: dict) -> PaymentNotification: ...


def _app(appid: str):
    from django.db import connection

    from tenants.models import WeChatApp

    app = WeChatApp.objects.select_related("brand").filter(appid=appid,
                                                          brand__schema_name=connection.schema_name).first()
    if app is None:
        raise _not_configured()
    return app


def _not_configured() -> ApplicationError:
    return ApplicationError("This mini-program has no WeChat Pay merchant.", code="payment_not_configured",
                            status_code=409)


def _build(app, api: str, mchid: str) -> PaymentGateway:
    from tenants.models import WeChatApp

    if api == WeChatApp.PayApi.V3:
        from miniprograms.payments.wechatpay_v3 import WeChatPayV3Gateway
        from tenants.wechatpay import ProviderNotConfigured, provider_client

        try:
            client = provider_client()
        except ProviderNotConfigured:
            raise _not_configured() from None
        if not mchid:
            raise _not_configured()
        return WeChatPayV3Gateway(app, client, mchid)
    from miniprograms.payments.wechatpay_v2 import WeChatPayV2Gateway

    if not app.mch_id:
        raise _not_configured()
    return WeChatPayV2Gateway(app)


def gateway_for(appid: str, *, api: str | None = None, mchid: str | None = None) -> PaymentGateway:
    """The gateway for the current brand's mini-program `appid` (which must belong to the current brand): the
    one named by `api` (and merchant `mchid`), else the mini-program's current choice with the brand's default
    merchant. Orders use `gateway_for_order`."""
    app = _app(appid)
    api = api or app.pay_api
    if mchid is None:
        mchid = app.sub_mchid if api == app.PayApi.V3 else app.mch_id
    return _build(app, api, mchid)


def payment_route_for(order) -> tuple[str, str]:
    """(gateway, merchant) of the order's payment: as stamped, else what a first prepay would use now."""
    if order.pay_gateway:
        return order.pay_gateway, order.pay_mchid
    app = _app(order.appid)
    if order.prepay_id:  # prepaid before orders remembered their gateway: v2 was the only one
        return app.PayApi.V2, app.mch_id
    if app.pay_api == app.PayApi.V3:
        franchisee = order.store.franchisee if order.store_id else None
        return app.PayApi.V3, (franchisee.wechatpay_sub_mchid if franchisee else "") or app.sub_mchid
    return app.PayApi.V2, app.mch_id


def gateway_for_order(order) -> PaymentGateway:
    """The gateway (and merchant) of the order's payment."""
    api, mchid = payment_route_for(order)
    return _build(_app(order.appid), api, mchid)
