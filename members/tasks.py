"""Thin tasks: each loads what it needs and calls a service. All run in the brand schema they were queued from
(core.tasks.BrandTask)."""

from __future__ import annotations

from celery import shared_task

from members.services import cards, imports, tiers
from tenants.wechat import WeChatUnavailable


@shared_task(
    name="members.card_update", autoretry_for=(WeChatUnavailable, ConnectionError), max_retries=5, retry_backoff=True
)
def member_card_update(member_id: int) -> bool:
    """Push the member's points and tier to their WeChat card (coalesced: see services.cards)."""
    return cards.member_card_push(member_id=member_id) is not None


@shared_task(
    name="members.card_activate", autoretry_for=(WeChatUnavailable, ConnectionError), max_retries=5, retry_backoff=True
)
def member_card_activate(member_id: int) -> None:
    cards.member_card_activate(member_id=member_id)


@shared_task(name="members.card_activations_send_stuck")
def member_card_activations_send_stuck() -> int:
    """Per brand, from beat through core.fan_out_to_brands: submitted cards whose activation never happened."""
    return cards.member_card_activations_send_stuck()


@shared_task(name="members.import_run")
def member_import_run(import_id: int) -> str | None:
    imp = imports.member_import_run(import_id=import_id)
    return imp.status if imp else None


@shared_task(name="members.imports_send_stuck")
def member_imports_send_stuck() -> int:
    """Per brand, from beat through core.fan_out_to_brands: imports whose run was sent but never started."""
    return imports.member_imports_send_stuck()


@shared_task(name="members.tier_downgrade_due")
def tier_downgrade_due() -> int:
    """Per brand, from beat through core.fan_out_to_brands."""
    return tiers.tier_downgrade_due()


@shared_task(name="members.tier_checks_run")
def member_tier_checks_run_task(_coalesced_id: int = 0) -> int:
    """The brand's sweep of tier checks asked for in marks (services.tiers.member_tier_checks_queue after a change,
    through core.tasks.enqueue_coalesced, which passes the coalescing id 0; beat every EKR_MEMBER_TIER_SWEEP_SECONDS
    for a sweep lost on the way). More marked members than one batch: the rest in a new message, so other brands'
    tasks get a turn."""
    checked, more = tiers.member_tier_checks_run()
    if more:
        from core.tasks import enqueue

        enqueue(member_tier_checks_run_task)
    return checked


@shared_task(name="members.tier_refresh")
def member_tier_refresh_task(member_id: int) -> None:
    """Coalesced tier check after points are earned (services.tiers.member_tier_evaluate_request)."""
    tiers.member_tier_refresh(member_id=member_id)
