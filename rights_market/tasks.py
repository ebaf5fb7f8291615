"""Celery tasks of the rights market. Thin: each calls one service. All run in the public schema (the services
enter the brands' schemas step by step)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings


def _retry_countdown(attempt: int) -> int:
    return min(2**attempt, settings.EKR_MARKET_RETRY_MAX_SECONDS)


@shared_task(name="rights_market.exchange_drive", bind=True)
def exchange_drive(self, exchange_id: int, attempt: int = 0) -> str:
    """Drive one exchange as far as it goes; a transient failure queues another try with back-off."""
    from rights_market.services.exchanges import Outcome, exchange_advance

    outcome = exchange_advance(exchange_id=exchange_id)
    if outcome == Outcome.RETRY:
        exchange_drive.apply_async(
            args=[exchange_id, attempt + 1], schema="public", countdown=_retry_countdown(attempt)
        )
    return outcome.value


@shared_task(name="rights_market.exchanges_resume_stuck")
def exchanges_resume_stuck() -> int:
    """The sweeper: re-drive exchanges left mid-way (a worker died, a message was lost)."""
    from rights_market.services.exchanges import exchanges_resume_stuck as resume

    return resume()


@shared_task(name="rights_market.statements_close_last_month")
def statements_close_last_month() -> int:
    """Monthly: gather last month's clearing lines into one statement per brand pair."""
    from rights_market.services.settlement import statements_close_month

    return len(statements_close_month(month=None))
