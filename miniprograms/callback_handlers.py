"""WeChat callbacks the shops app handles (callbacks.registry)."""
from callbacks.registry import PermanentFailure, register
from miniprograms.services.payments import REJECTED, order_mark_paid_from_notification


@register("pay.notify")
def pay_notified(event: dict) -> None:
    """A WeChat Pay v2 notification: the order is marked paid once (re-verified here); a forged or mismatched one
    changes nothing and is dead at once for ops to look at."""
    if order_mark_paid_from_notification(data=event["payload"]) == REJECTED:
        raise PermanentFailure("pay notification refused (signature, amount, merchant or order state)")
