"""Which gateway pays for a mini-program: the one factory orders and refunds call. It sits above the interface
(payments.base) and its implementations, which never import it."""
from __future__ import annotations

from django.db import connection

from core.errors import ApplicationError
from miniprograms.payments.base import PaymentGateway
from miniprograms.payments.wechatpay_v2 import WeChatPayV2Gateway
from tenants.models import WeChatApp


def gateway_for(appid: str) -> PaymentGateway:
    """The gateway for the current brand's mini-program `appid` (which must belong to the current brand)."""
    app = WeChatApp.objects.select_related("brand").filter(appid=appid,
                                                          brand__schema_name=connection.schema_name).first()
    if app is None or not app.mch_id:
        raise ApplicationError("This mini-program has no WeChat Pay merchant.", code="payment_not_configured",
                               status_code=409)
    return WeChatPayV2Gateway(app)
