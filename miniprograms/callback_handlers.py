"""WeChat callbacks the shops app handles (callbacks.registry)."""

from callbacks.registry import PermanentFailure, register
from miniprograms.services.payments import REJECTED, order_mark_paid_from_notification


@register("pay.notify")
def pay_notified(event: dict) -> None:
    """A WeChat Pay v2 notification: the order is marked paid once (re-verified here); a forged or mismatched one
    changes nothing and is dead at once for ops to look at."""
    if order_mark_paid_from_notification(data=event["payload"]) == REJECTED:
        raise PermanentFailure("pay notification refused (signature, amount, merchant or order state)")


@register("pay.v3.transaction")
def pay_v3_notified(event: dict) -> None:
    """A WeChat Pay v3 payment notification (verified and decrypted on receipt): the order is marked paid once;
    one of another sub-merchant, mini-program or amount changes nothing and is dead at once for ops."""
    from miniprograms.services.payments import order_mark_paid_from_v3_notification

    resource = (event.get("payload") or {}).get("resource") or {}
    if order_mark_paid_from_v3_notification(appid=event["appid"], resource=resource) == REJECTED:
        raise PermanentFailure("v3 pay notification refused (merchant, amount or order state)")


@register("pay.v3.refund")
def refund_v3_notified(event: dict) -> None:
    """A WeChat Pay v3 refund notification (REFUND.SUCCESS, ABNORMAL or CLOSED): recorded on the refund once."""
    from miniprograms.services.refunds import REJECTED as REFUND_REJECTED
    from miniprograms.services.refunds import refund_outcome_from_v3_notification

    resource = (event.get("payload") or {}).get("resource") or {}
    if refund_outcome_from_v3_notification(appid=event["appid"], resource=resource) == REFUND_REJECTED:
        raise PermanentFailure("v3 refund notification refused (merchant, amount or refund unknown)")
