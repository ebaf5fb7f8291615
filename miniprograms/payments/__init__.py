"""Payment behind one small interface (payments.base.PaymentGateway). Orders and refunds call only
`gateway_for_order(order)` (or `gateway_for(appid)`); WeChat Pay v2 is the first implementation, APIv3 in
service-provider mode the second (see base.py for which one an order uses)."""

from miniprograms.payments.base import (  # noqa: F401
    InvalidNotification,
    OrderPaidAtGateway,
    PaymentGateway,
    PaymentNotification,
    PaymentUnavailable,
    PrepayResult,
    QueryResult,
    RefundResult,
)
from miniprograms.payments.gateways import gateway_for, gateway_for_order, payment_route_for  # noqa: F401
