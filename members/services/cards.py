"""The WeChat member card: card events (from the callback pipeline), activation, and coalesced card updates.

A burst of changes to one member costs one WeChat call: the first change in a window sets a Redis key (with the
schema in it) with SET NX and queues the update task with a short countdown; later changes find the key and do
nothing. The task deletes the key before it reads the member, so a change after that read queues a new update.
The key expires on its own, so a task lost with Redis leaves the member updatable by the next change.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.tasks import coalesce_release, enqueue, enqueue_coalesced, sends_repeat_stale
from members.callbacks import card_event
from members.models import Member, TierChange
from members.selectors import (
    card_level_entry,
    card_template_active,
    card_wechat_app,
    member_points_balance,
    phone_hash,
    phone_normalize,
)
from tenants.wechat import wechat_client, wechat_errors

logger = logging.getLogger(__name__)


CARD_SYNC = "member-card"


def member_card_sync_request(*, member: Member) -> bool:
    """Ask for the member's WeChat card to show their current points and tier. Called by points and tiers after
    each change; cheap to call often (coalesced: a burst costs one WeChat call). Returns False when the member
    has no active card (nothing to do)."""
    if member.card_state != Member.CardState.ACTIVATED or not member.card_code:
        return False

    enqueue_coalesced(
        "members.card_update", name=CARD_SYNC, object_id=member.pk, delay=settings.EKR_MEMBER_CARD_SYNC_DELAY_SECONDS
    )
    return True


def member_card_push(*, member_id: int) -> dict | None:
    """Send the member's current points and tier to their WeChat card (the body of the update task).
    Sends absolute values (bonus), so sending twice is harmless."""
    coalesce_release(CARD_SYNC, member_id)
    member = Member.objects.select_related("tier").filter(pk=member_id).first()
    if member is None or member.card_state != Member.CardState.ACTIVATED or not member.card_code:
        return None
    app = card_wechat_app()
    if app is None:
        logger.warning("card update skipped: brand has no WeChat app")
        return None
    with wechat_errors():  # WeChat busy or unreachable: WeChatUnavailable, which the task retries
        return wechat_client(app).card.update_membercard(
            code=member.card_code,
            card_id=member.card_id,
            bonus=member_points_balance(member),
            custom_field_value1=member.tier.name if member.tier else "",
        )


# --- card events (declared to the callback pipeline with @card_event) -----------------------------------------


def _event_member(event: dict) -> Member | None:
    code = event.get("UserCardCode") or ""
    openid = event.get("FromUserName") or ""
    unionid = event.get("UnionId") or ""
    qs = Member.objects.select_for_update()
    member = None
    if code:
        member = qs.filter(card_code=code).first()
    if member is None and openid:
        member = qs.filter(openid=openid).first()
    if member is None and unionid:
        member = qs.filter(unionid=unionid).first()
    return member


@card_event("user_get_card")
@transaction.atomic
def card_event_user_get_card(event: dict) -> Member | None:
    """user_get_card: the member received the brand's card. A stranger becomes a member (channel: card).
    Idempotent: the same event twice changes nothing."""
    code = event.get("UserCardCode") or ""
    card_id = event.get("CardId") or ""
    template = card_template_active()
    if not code or (template is not None and card_id != template.card_id):
        logger.info("user_get_card for another card ignored")
        return None
    member = _event_member(event)
    if member is None:
        openid = event.get("FromUserName") or None
        entry = card_level_entry()
        now = timezone.now()
        member = Member.objects.create(
            openid=openid,
            unionid=event.get("UnionId") or None,
            join_channel=Member.Channel.CARD,
            joined_at=now,
            tier=entry,
            tier_since=now if entry else None,
        )
        if entry is not None:
            TierChange.objects.create(
                member=member, to_level=entry, kind=TierChange.Kind.INITIAL, reason="received the member card"
            )
    if member.card_code == code and member.card_state != Member.CardState.DELETED:
        return member
    member.card_id, member.card_code, member.card_state = card_id, code, Member.CardState.RECEIVED
    member.save(update_fields=["card_id", "card_code", "card_state", "updated_at"])
    return member


@card_event("submit_membercard_user_info")
@transaction.atomic
def card_event_submit_user_info(event: dict) -> Member | None:
    """submit_membercard_user_info: the member filled in the card's form; activation follows in a task."""
    member = _event_member(event)
    if member is None or member.card_state in (Member.CardState.ACTIVATED, Member.CardState.SUBMITTED):
        return member
    if event.get("UserCardCode") and not member.card_code:
        member.card_code, member.card_id = event["UserCardCode"], event.get("CardId") or ""
    member.card_state = Member.CardState.SUBMITTED
    member.save(update_fields=["card_code", "card_id", "card_state", "updated_at"])

    enqueue("members.card_activate", member.pk)
    return member


@card_event("user_del_card")
@transaction.atomic
def card_event_user_del_card(event: dict) -> Member | None:
    """user_del_card: the member deleted the card. Idempotent; unknown codes are ignored."""
    code = event.get("UserCardCode") or ""
    member = Member.objects.select_for_update().filter(card_code=code).first() if code else None
    if member is None:
        return None
    member.card_state, member.card_code = Member.CardState.DELETED, None
    member.save(update_fields=["card_state", "card_code", "updated_at"])
    return member


def _form_values(info: dict) -> dict[str, str]:
    fields = (info.get("user_info") or {}).get("common_field_list") or []
    return {f.get("name", ""): f.get("value", "") for f in fields if isinstance(f, dict)}


def member_card_activate(*, member_id: int) -> Member | None:
    """Activate the member's card through WeChat (after the form), filling blanks of the profile from the form.
    The WeChat calls happen outside any transaction; a repeat after activation does nothing."""
    member = Member.objects.select_related("tier").filter(pk=member_id).first()
    if member is None or member.card_state != Member.CardState.SUBMITTED or not member.card_code:
        return member
    app = card_wechat_app()
    if app is None:
        logger.warning("card activation skipped: brand has no WeChat app")
        return member
    client = wechat_client(app)
    with wechat_errors():  # WeChat busy or unreachable: WeChatUnavailable, which the task retries
        form = _form_values(client.card.get_membercard_user_info(member.card_id, member.card_code))
        client.card.activate_membercard(
            member.membership_number,
            member.card_code,
            card_id=member.card_id,
            init_bonus=member_points_balance(member),
            init_custom_field_value1=member.tier.name if member.tier else "",
        )
    return _member_card_activated(member_id=member_id, form=form)


def member_card_activations_send_stuck(
    *, now=None, older_than: dt.timedelta = dt.timedelta(minutes=10), limit: int = 200
) -> int:
    """The periodic sweep: send again the activation of cards whose form was submitted a while ago and which are
    still not activated (the send failed after the commit, which core.tasks.enqueue logs rather than raises; the
    task gave up its retries while WeChat was unreachable). An activation sent twice does nothing the second time
    (member_card_activate). Returns how many were sent."""
    return sends_repeat_stale(
        Member.objects.filter(card_state=Member.CardState.SUBMITTED),
        field="updated_at",
        task="members.card_activate",
        now=now or timezone.now(),
        older_than=older_than,
        limit=limit,
    )


@transaction.atomic
def _member_card_activated(*, member_id: int, form: dict[str, str]) -> Member:
    member = Member.objects.select_for_update().get(pk=member_id)
    fields = ["card_state", "card_activated_at", "updated_at"]
    member.card_state, member.card_activated_at = Member.CardState.ACTIVATED, timezone.now()
    if not member.name and form.get("USER_FORM_INFO_FLAG_NAME"):
        member.name = form["USER_FORM_INFO_FLAG_NAME"][:50]
        fields.append("name")
    if not member.birthday and form.get("USER_FORM_INFO_FLAG_BIRTHDAY"):
        try:
            member.birthday = dt.date.fromisoformat(form["USER_FORM_INFO_FLAG_BIRTHDAY"])
            fields.append("birthday")
        except ValueError:
            pass
    if not member.phone_hash and form.get("USER_FORM_INFO_FLAG_MOBILE"):
        try:
            phone = phone_normalize(form["USER_FORM_INFO_FLAG_MOBILE"])
            if not Member.objects.filter(phone_hash=phone_hash(phone)).exists():
                member.phone, member.phone_hash = phone, phone_hash(phone)
                fields += ["phone", "phone_hash"]
        except ValueError:
            pass
    member.save(update_fields=fields)
    return member
