"""Analytics tasks: thin, each runs in the brand it was queued for (core.tasks.BrandTask)."""

from celery import shared_task

from analytics.rollup import rollup_run


@shared_task(name="analytics.rollup")
def analytics_rollup_task() -> list[str]:
    """Hourly, per brand (beat -> core.fan_out_to_brands): rebuild today, the recent days and days with late facts."""
    return [day.isoformat() for day in rollup_run().days]
