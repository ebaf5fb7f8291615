"""Payment behind one small interface (payments.base.PaymentGateway). Orders and refunds call only
`gateway_for(appid)`; WeChat Pay v2 is the first implementation, Pay v3 service-provider mode can be a second."""
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
from miniprograms.payments.gateways import gateway_for  # noqa: F401
