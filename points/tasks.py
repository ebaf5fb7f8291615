"""Points tasks: thin, each runs in the brand it was queued for (core.tasks.BrandTask)."""

from celery import shared_task
from django.utils import timezone

from points.services import points_expire_due


@shared_task(name="points.expire_due")
def points_expire_due_task() -> int:
    """Daily, per brand (beat -> core.fan_out_to_brands): expire the lots due now."""
    return points_expire_due(now=timezone.now())
