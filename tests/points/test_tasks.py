"""The daily expiry run, through beat's fan-out and a real Celery worker, in each brand's own schema."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import schema_context

from core.tasks import fan_out_to_brands
from points.models import PointsEntry
from points.services import points_earn
from tests.helpers import wait_until
from tests.points.ledger_checks import ledger_invariants_assert


def test_beat_runs_the_expiry_fan_out_daily():
    entry = settings.CELERY_BEAT_SCHEDULE["points-expire-due"]
    assert entry["task"] == "core.fan_out_to_brands"
    assert entry["kwargs"]["task_name"] == "points.expire_due"
    assert entry["schedule"].hour == {0}


@pytest.mark.worker
def test_expiry_task_runs_in_every_brand_schema(new_brand, celery_worker_process):
    from members.models import Member

    brands = [new_brand("exp"), new_brand("exp")]
    members = []
    for brand in brands:
        with schema_context(brand.schema_name):
            member = Member.objects.create(openid="o-exp")
            points_earn(
                member=member,
                points=40,
                idempotency_key="due",
                reason="order",
                expires_at=timezone.now() - timedelta(minutes=1),
            )
            points_earn(
                member=member,
                points=15,
                idempotency_key="later",
                reason="order",
                expires_at=timezone.now() + timedelta(days=3),
            )
            members.append(member)

    fan_out_to_brands.delay("points.expire_due", window_seconds=1)

    for brand, member in zip(brands, members):

        def expired(brand=brand):
            with schema_context(brand.schema_name):
                return PointsEntry.objects.filter(kind="expire").first()

        entry = wait_until(expired, timeout=30, message=f"expiry in {brand.schema_name}")
        assert entry.amount == -40
        with schema_context(brand.schema_name):
            assert ledger_invariants_assert(member) == 15
