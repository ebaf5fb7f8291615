import json
from unittest import mock

import pytest
from django.db import connection

from core.redis_client import redis_client as _redis
from core.tasks import coalesce_key
from members.callbacks import CARD_EVENT_HANDLERS
from members.models import CardTemplate, Member
from members.services import member_card_push, member_card_sync_request, member_tier_evaluate
from members.services.cards import CARD_SYNC

CARD_ID = "pCARD0000000000000000000001"


@pytest.fixture
def card(world):
    return CardTemplate.objects.create(card_id=CARD_ID, title="Alpha club")


def event(name: str, openid: str, code: str = "C-1", **extra) -> dict:
    return {
        "ToUserName": "gh_1",
        "FromUserName": openid,
        "CreateTime": "1700000000",
        "MsgType": "event",
        "Event": name,
        "CardId": CARD_ID,
        "UserCardCode": code,
        **extra,
    }


@pytest.fixture
def carded(world, card, register):
    """A registered member with an activated card."""
    member = register("o-1", "13800138000")
    Member.objects.filter(pk=member.pk).update(card_id=CARD_ID, card_code="C-1", card_state="activated")
    member.refresh_from_db()
    _redis().delete(coalesce_key(connection.schema_name, CARD_SYNC, member.pk))
    return member


def test_handlers_are_registered_for_the_callback_pipeline():
    assert set(CARD_EVENT_HANDLERS) == {"user_get_card", "submit_membercard_user_info", "user_del_card"}


def test_user_get_card_is_idempotent(world, card, register):
    member = register("o-1", "13800138000")
    for _ in range(2):
        got = CARD_EVENT_HANDLERS["user_get_card"](event("user_get_card", "o-1"))
    assert got.pk == member.pk
    member.refresh_from_db()
    assert (member.card_code, member.card_state) == ("C-1", "received")
    assert Member.objects.count() == 1


def test_user_get_card_from_a_stranger_makes_a_card_member(world, card):
    member = CARD_EVENT_HANDLERS["user_get_card"](event("user_get_card", "o-stranger", code="C-9"))
    CARD_EVENT_HANDLERS["user_get_card"](event("user_get_card", "o-stranger", code="C-9"))
    assert Member.objects.filter(openid="o-stranger").count() == 1
    assert member.join_channel == "card" and member.tier == world.silver


def test_events_for_another_card_are_ignored(world, card):
    other = dict(event("user_get_card", "o-2"), CardId="pOTHER")
    assert CARD_EVENT_HANDLERS["user_get_card"](other) is None
    assert not Member.objects.exists()


def test_submit_then_activate_through_wechat(world, card, register, fake_wechat, django_capture_on_commit_callbacks):
    member = register("o-1", "13800138000")
    CARD_EVENT_HANDLERS["user_get_card"](event("user_get_card", "o-1"))
    fake_wechat.state["card_forms"] = {
        "C-1": [
            {"name": "USER_FORM_INFO_FLAG_NAME", "value": "Mei"},
            {"name": "USER_FORM_INFO_FLAG_BIRTHDAY", "value": "1990-05-01"},
        ]
    }
    with mock.patch("members.tasks.member_card_activate.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            CARD_EVENT_HANDLERS["submit_membercard_user_info"](event("submit_membercard_user_info", "o-1"))
            CARD_EVENT_HANDLERS["submit_membercard_user_info"](event("submit_membercard_user_info", "o-1"))
    assert queued.call_count == 1
    from members.services import member_card_activate

    member_card_activate(member_id=member.pk)
    member_card_activate(member_id=member.pk)  # again: no second WeChat call
    activations = fake_wechat.state["card_activations"]
    assert len(activations) == 1
    assert activations[0]["code"] == "C-1" and activations[0]["membership_number"] == member.membership_number
    member.refresh_from_db()
    assert member.card_state == "activated" and member.name == "Mei" and str(member.birthday) == "1990-05-01"


def test_user_del_card_is_idempotent(world, carded):
    for _ in range(2):
        CARD_EVENT_HANDLERS["user_del_card"](event("user_del_card", "o-1"))
    carded.refresh_from_db()
    assert carded.card_state == "deleted" and carded.card_code is None
    assert CARD_EVENT_HANDLERS["user_del_card"](event("user_del_card", "o-1", code="unknown")) is None


def test_ten_changes_queue_one_card_update(world, carded, django_capture_on_commit_callbacks):
    with mock.patch("members.tasks.member_card_update.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(10):
                assert member_card_sync_request(member=carded)
    assert queued.call_count == 1
    assert queued.call_args.kwargs["schema"] == "alpha"
    assert queued.call_args.kwargs["args"] == [carded.pk]
    assert _redis().exists(coalesce_key("alpha", CARD_SYNC, carded.pk))


def test_the_update_sends_current_points_and_tier_then_opens_the_window(
    world, carded, fake_wechat, django_capture_on_commit_callbacks
):
    with mock.patch("members.tasks.member_card_update.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            member_tier_evaluate(member=carded, earned_points_12m=2000, spent_fen_12m=0, reason="order")
            member_card_sync_request(member=carded)
        member_card_push(member_id=carded.pk)
        assert len(fake_wechat.state["card_updates"]) == 1
        sent = fake_wechat.state["card_updates"][0]
        assert sent["code"] == "C-1" and sent["card_id"] == CARD_ID
        assert sent["custom_field_value1"] == "Gold" and sent["bonus"] == 0
        # after the task ran, the next change queues a new update
        with django_capture_on_commit_callbacks(execute=True):
            member_card_sync_request(member=carded)
    assert queued.call_count == 2


def test_no_card_no_update(world, register, django_capture_on_commit_callbacks):
    member = register("o-1", "13800138000")
    with mock.patch("members.tasks.member_card_update.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            assert member_card_sync_request(member=member) is False
    assert queued.call_count == 0


def test_wechat_busy_is_retried_by_the_tasks_autoretry(world, carded, fake_wechat):
    from members.tasks import member_card_update

    # WeChat answers "system busy" twice, then takes the update
    fake_wechat.fail_next("/card/membercard/updateuser", {"errcode": -1, "errmsg": "system error"}, times=2)

    # the task as Celery runs it (apply: its autoretry re-runs it here instead of after a countdown)
    result = member_card_update.apply(args=[carded.pk])

    assert result.successful() and result.get() is True
    calls = fake_wechat.calls_to("/card/membercard/updateuser")
    assert len(calls) == 3 and {json.loads(call[3])["code"] for call in calls} == {"C-1"}
    assert len(fake_wechat.state["card_updates"]) == 1


def test_wechat_busy_past_the_retries_gives_up(world, carded, fake_wechat):
    from members.tasks import member_card_update
    from tenants.wechat import WeChatUnavailable

    fake_wechat.fail_next("/card/membercard/updateuser", {"errcode": -1, "errmsg": "system error"}, times=10)

    result = member_card_update.apply(args=[carded.pk])

    assert result.failed() and isinstance(result.result, WeChatUnavailable)
    assert len(fake_wechat.calls_to("/card/membercard/updateuser")) == 1 + member_card_update.max_retries
    assert fake_wechat.state.get("card_updates", []) == []


def test_a_submitted_card_whose_activation_was_lost_is_sent_again_by_the_sweep(
    world, card, register, brand_b, django_capture_on_commit_callbacks, caplog
):
    from datetime import timedelta

    from django.utils import timezone
    from django_tenants.utils import schema_context

    from members.services.cards import member_card_activations_send_stuck
    from tests.helpers import broker_unreachable_during

    member = register("o-1", "13800138000")
    CARD_EVENT_HANDLERS["user_get_card"](event("user_get_card", "o-1"))
    with broker_unreachable_during(), django_capture_on_commit_callbacks(execute=True):
        CARD_EVENT_HANDLERS["submit_membercard_user_info"](event("submit_membercard_user_info", "o-1"))
    assert "task members.card_activate" in caplog.text and "not queued" in caplog.text  # lost, logged
    member.refresh_from_db()
    assert member.card_state == "submitted"
    with schema_context(brand_b.schema_name):  # another brand's card waiting too
        Member.objects.create(openid="o-b-1", card_id=CARD_ID, card_code="C-B", card_state="submitted")

    later = timezone.now() + timedelta(minutes=11)
    with mock.patch("members.tasks.member_card_activate.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):
            assert member_card_activations_send_stuck() == 0  # submitted just now: the task may still be on its way
            assert member_card_activations_send_stuck(now=later) == 1
    assert [(c.kwargs["args"], c.kwargs["schema"]) for c in queued.call_args_list] == [
        ([member.pk], connection.schema_name)
    ]
    with mock.patch("members.tasks.member_card_activate.apply_async") as queued:
        with django_capture_on_commit_callbacks(execute=True):  # sent again at `later`: not before another wait
            assert member_card_activations_send_stuck(now=later + timedelta(minutes=5)) == 0
    assert queued.call_count == 0
