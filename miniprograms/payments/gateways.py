"""Which gateway pays: the one factory orders and refunds call. It sits above the interface (payments.base) and
its implementations, which never import it. See payments.base for which gateway and merchant an order uses."""

from __future__ import annotations

from django.db import connection

from core.errors import ApplicationError
from core.sql_reads import JoinedRead
from miniprograms.payments.base import PaymentGateway
from miniprograms.payments.wechatpay_v2 import WeChatPayV2Gateway
from miniprograms.payments.wechatpay_v3 import WeChatPayV3Gateway
from tenants.models import Brand, WeChatApp
from tenants.wechatpay import ProviderNotConfigured, provider_client

# `WeChatApp.objects.select_related("brand").filter(appid=.., brand__schema_name=..)` (appid is unique), read on every
# pay notification: SQL written once (core.sql_reads), and read fresh each time (a rotated merchant key counts at
# once: no process cache of what verifies a payment).
_app_read = JoinedRead(
    models=[("a", WeChatApp), ("b", Brand)],
    attach=[("a", "brand", "b")],
    tail='FROM {a} JOIN {b} ON b."id" = a."brand_id" WHERE a."appid" = %s AND b."schema_name" = %s',
)


def _app(appid: str) -> WeChatApp:
    found = _app_read([appid, connection.schema_name])
    if not found:
        raise _not_configured()
    return found[0]


def _not_configured() -> ApplicationError:
    return ApplicationError(
        "This mini-program has no WeChat Pay merchant.", code="payment_not_configured", status_code=409
    )


def _build(app: WeChatApp, api: str, mchid: str) -> PaymentGateway:
    if api == WeChatApp.PayApi.V3:
        try:
            client = provider_client()
        except ProviderNotConfigured:
            raise _not_configured() from None
        if not mchid:
            raise _not_configured()
        return WeChatPayV3Gateway(app, client, mchid)
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
