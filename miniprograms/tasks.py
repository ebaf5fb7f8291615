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
