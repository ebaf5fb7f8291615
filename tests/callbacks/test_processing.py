"""Processing in-process: the handler runs once, in the brand's schema; retries, dead, ignore, replay, sweep."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from callbacks import registry
from callbacks.models import CallbackEvent
from callbacks.services import callback_process, callbacks_replay, callbacks_sweep
from tests.callbacks.conftest import post_xml
from tests.callbacks.handlers import effects
from tests.callbacks.wechat import event_xml

Status = CallbackEvent.Status


def receive(client, sender, **xml_fields) -> CallbackEvent:
    path, body = sender.safe(event_xml(event=xml_fields.pop("event", "ekr_test_effect"), **xml_fields))
    response = post_xml(client, path, body)
    assert response.status_code == 200, response.content
    connection.set_schema_to_public()  # the request left the connection in the host's schema
    return CallbackEvent.objects.filter(appid=sender.appid).order_by("-id").first()


def test_the_handler_runs_once_in_the_brands_schema(effect_tables, sender_a, sender_b, client_for, brand_a, brand_b):
    event = receive(client_for(brand_a), sender_a)
    assert callback_process(event_id=event.id).status == "done"
    assert callback_process(event_id=event.id).status == "skipped"  # a duplicate message or redelivery
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.DONE, 1)
    assert event.processed_at is not None
    assert effects("alpha", event.id) == [(event.id, "alpha")]
    assert effects("beta") == []
    assert connection.schema_name == "public"  # processing does not leave the connection in the brand


def test_an_event_received_on_the_platform_host_runs_in_its_brand(effect_tables, sender_b, client_for):
    event = receive(client_for(None), sender_b)
    callback_process(event_id=event.id)
    assert effects("beta", event.id) == [(event.id, "beta")]
    assert effects("alpha") == []


def test_unknown_kind_is_ignored_not_failed(sender_a, client_for, brand_a):
    event = receive(client_for(brand_a), sender_a, event="view_miniprogram")
    assert (event.kind, event.status) == ("event.view_miniprogram", Status.IGNORED)
    assert callback_process(event_id=event.id).status == "skipped"


def test_kind_whose_handler_went_away_is_ignored_at_processing(sender_a, client_for, brand_a):
    registry.register("event.ekr_gone")(lambda event: None)
    event = receive(client_for(brand_a), sender_a, event="ekr_gone")
    registry.unregister("event.ekr_gone")
    assert callback_process(event_id=event.id).status == Status.IGNORED
    event.refresh_from_db()
    assert event.status == Status.IGNORED


def test_failure_retries_with_backoff_then_dies_with_its_error(effect_tables, sender_a, client_for, brand_a, settings):
    settings.EKR_CALLBACK_MAX_ATTEMPTS = 3
    settings.EKR_CALLBACK_RETRY_BASE_SECONDS = 10
    event = receive(client_for(brand_a), sender_a, EventKey="fail:99")
    delays = []
    for _ in range(2):
        outcome = callback_process(event_id=event.id)
        assert outcome.status == Status.FAILED
        delays.append(outcome.retry_in)
        event.refresh_from_db()
        assert event.status == Status.FAILED and event.next_attempt_at > timezone.now()
        assert "test failure on attempt" in event.last_error
    assert 9 <= delays[0] <= 11 and 18 <= delays[1] <= 22  # exponential
    assert callback_process(event_id=event.id).status == Status.DEAD
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.DEAD, 3)
    assert "RuntimeError: test failure on attempt 3" in event.last_error
    assert effects("alpha", event.id) == []  # every failed attempt rolled back its writes
    assert callback_process(event_id=event.id).status == "skipped"


def test_a_retry_that_succeeds_takes_effect_once(effect_tables, sender_a, client_for, brand_a):
    event = receive(client_for(brand_a), sender_a, EventKey="fail:1")
    assert callback_process(event_id=event.id).status == Status.FAILED
    assert callback_process(event_id=event.id).status == Status.DONE
    assert len(effects("alpha", event.id)) == 1


def test_handler_can_ignore_or_fail_permanently(sender_a, client_for, brand_a):
    def ignore(event):
        raise registry.IgnoreEvent("not for us")

    def refuse(event):
        raise registry.PermanentFailure("amount 1 != order amount 990")

    registry.register("event.ekr_ignore")(ignore)
    registry.register("event.ekr_refuse")(refuse)
    try:
        ignored = receive(client_for(brand_a), sender_a, event="ekr_ignore")
        dead = receive(client_for(brand_a), sender_a, event="ekr_refuse")
        assert callback_process(event_id=ignored.id).status == Status.IGNORED
        assert callback_process(event_id=dead.id).status == Status.DEAD
    finally:
        registry.unregister("event.ekr_ignore")
        registry.unregister("event.ekr_refuse")
    dead.refresh_from_db()
    assert dead.attempts == 1 and "amount 1 != order amount 990" in dead.last_error


def test_one_handler_per_kind():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        registry.register("event.ekr_test_effect")(lambda event: None)


def test_rejected_rows_are_never_processed_or_swept(sender_a, client_for, brand_a, monkeypatch):
    path, body = sender_a.plain(event_xml(event="ekr_test_effect"), token="forged")
    post_xml(client_for(brand_a), path, body)
    row = CallbackEvent.objects.get(status=Status.REJECTED)
    assert callback_process(event_id=row.id).status == "skipped"
    sent = []
    monkeypatch.setattr("callbacks.services.events_publish", lambda **kw: sent.extend(kw["event_ids"]) or True)
    callbacks_sweep(received_after=0, queued_stale=0, processing_stale=0, failed_grace=0)
    assert sent == []


def test_sweeper_requeues_what_would_wait_forever(sender_a, client_for, brand_a, monkeypatch):
    client = client_for(brand_a)
    never_queued = receive(client, sender_a, create_time=1)
    fresh = receive(client, sender_a, create_time=2)
    orphaned = receive(client, sender_a, create_time=3)
    failed_lost = receive(client, sender_a, create_time=4)
    failed_waiting = receive(client, sender_a, create_time=5)
    done = receive(client, sender_a, create_time=6)
    long_ago = timezone.now() - timedelta(hours=1)
    CallbackEvent.objects.filter(id=never_queued.id).update(received_at=long_ago)
    CallbackEvent.objects.filter(id=orphaned.id).update(status=Status.PROCESSING, started_at=long_ago)
    CallbackEvent.objects.filter(id=failed_lost.id).update(status=Status.FAILED, next_attempt_at=long_ago)
    CallbackEvent.objects.filter(id=failed_waiting.id).update(
        status=Status.FAILED, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    CallbackEvent.objects.filter(id=done.id).update(status=Status.DONE, received_at=long_ago)
    sent = []
    monkeypatch.setattr("callbacks.services.events_publish", lambda **kw: sent.extend(kw["event_ids"]) or True)
    counts = callbacks_sweep()
    assert sorted(sent) == sorted([never_queued.id, orphaned.id, failed_lost.id])
    assert counts == {"received": 1, "processing": 1, "failed": 1}
    assert set(CallbackEvent.objects.filter(id__in=sent).values_list("status", flat=True)) == {Status.QUEUED}
    assert CallbackEvent.objects.get(id=fresh.id).status == Status.RECEIVED


def test_sweeper_stops_when_the_broker_is_down_and_leaves_rows_as_they_were(sender_a, client_for, brand_a, monkeypatch):
    event = receive(client_for(brand_a), sender_a)
    monkeypatch.setattr("callbacks.services.events_publish", lambda **kw: False)
    assert callbacks_sweep(received_after=0) == {}
    assert CallbackEvent.objects.get(id=event.id).status == Status.RECEIVED


def test_replay_dead_events_after_a_fix(effect_tables, sender_a, sender_b, client_for, brand_a, brand_b, settings):
    from tests.callbacks.handlers import effect

    settings.EKR_CALLBACK_MAX_ATTEMPTS = 1
    broken = {"yes": True}

    def flaky(event):
        if broken["yes"]:
            raise RuntimeError("bug")
        effect(event)

    registry.register("event.ekr_flaky")(flaky)
    try:
        dead_a = receive(client_for(brand_a), sender_a, event="ekr_flaky")
        dead_b = receive(client_for(brand_b), sender_b, event="ekr_flaky")
        done = receive(client_for(brand_a), sender_a)
        for event in (dead_a, dead_b, done):
            callback_process(event_id=event.id)
        assert CallbackEvent.objects.get(id=dead_a.id).status == Status.DEAD
        broken["yes"] = False  # the fix is deployed
        # a brand's replay touches only its own rows; done rows are never replayed
        assert callbacks_replay(event_ids=[dead_a.id, dead_b.id, done.id], brand=brand_a) == 1
        row = CallbackEvent.objects.get(id=dead_a.id)
        assert (row.status, row.attempts, row.last_error) == (Status.RECEIVED, 0, "")
        assert CallbackEvent.objects.get(id=dead_b.id).status == Status.DEAD
        assert callback_process(event_id=dead_a.id).status == Status.DONE
    finally:
        registry.unregister("event.ekr_flaky")
    assert effects("alpha", dead_a.id) == [(dead_a.id, "alpha")]
    assert len(effects("alpha", done.id)) == 1


def test_replay_command_by_status_and_brand(sender_a, sender_b, client_for, brand_a, brand_b, monkeypatch):
    rows = [receive(client_for(brand_a), sender_a), receive(client_for(brand_b), sender_b)]
    CallbackEvent.objects.filter(id__in=[r.id for r in rows]).update(status=Status.DEAD, attempts=8)
    call_command("replay_callbacks", "--status", "dead", "--brand", "alpha")
    assert CallbackEvent.objects.get(id=rows[0].id).status == Status.RECEIVED
    assert CallbackEvent.objects.get(id=rows[1].id).status == Status.DEAD
    call_command("replay_callbacks", "--id", str(rows[1].id))
    assert CallbackEvent.objects.get(id=rows[1].id).status == Status.RECEIVED
