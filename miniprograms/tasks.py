"""Periodic jobs of the shops app, one message per brand (core.fan_out_to_brands). Thin: they call services."""

from celery import shared_task

from core.tasks import BrandTask


@shared_task(base=BrandTask, name="miniprograms.cancel_unpaid_orders")
def cancel_unpaid_orders() -> int:
    from miniprograms.services.payments import orders_cancel_expired

    return orders_cancel_expired()


@shared_task(base=BrandTask, name="miniprograms.commissions_mark_payable")
def commissions_mark_payable() -> int:
    from miniprograms.services.guides import commissions_mark_payable as mark

    return mark()


@shared_task(base=BrandTask, name="miniprograms.refunds_send_stuck")
def refunds_send_stuck() -> int:
    from miniprograms.services.refunds import refunds_send_stuck as send

    return send()


@shared_task(base=BrandTask, name="miniprograms.payout_transfers_refresh")
def payout_transfers_refresh() -> int:
    from core.errors import ApplicationError
    from miniprograms.services.payouts import commission_payout_transfers_refresh as refresh

    try:
        return refresh()
    except ApplicationError:  # the brand's merchant is not (or no longer) set up for transfers
        return 0


@shared_task(base=BrandTask, name="miniprograms.shop_push_run")
def shop_push_run(push_id: int) -> int:
    from miniprograms.models import ShopPush
    from miniprograms.services.pushes import shop_push_run as run
    from miniprograms.services.pushes import shop_push_sent

    push = run(push_id=push_id, max_batches=10)
    if push.status != ShopPush.Status.DONE:
        shop_push_sent(push_id=push_id)  # the rest in a new message: other brands' tasks get a turn
    return push.done_shops


@shared_task(base=BrandTask, name="miniprograms.shop_pushes_send_stuck")
def shop_pushes_send_stuck() -> int:
    """Per brand, from beat through core.fan_out_to_brands: pushes whose run was sent but never finished."""
    from miniprograms.services.pushes import shop_pushes_send_stuck as send

    return send()


@shared_task(
    base=BrandTask,
    name="miniprograms.order_close_at_gateway",
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=20,
)
def order_close_at_gateway(order_id: int) -> str:
    from miniprograms.services.payments import order_gateway_close

    return order_gateway_close(order_id=order_id)


@shared_task(
    base=BrandTask,
    name="miniprograms.refund_send",
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_backoff_max=1800,
    max_retries=20,
)
def refund_send(refund_id: int) -> str:
    from miniprograms.services.refunds import refund_automatic_send

    return refund_automatic_send(refund_id=refund_id)
