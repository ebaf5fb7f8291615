"""Defect 9: refused callbacks cannot grow without bound: rate-limited per sender and appid, bodies capped,
old rows purged by a beat job."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from callbacks.models import CallbackEvent
from callbacks.services import callbacks_rejected_purge
from tests.callbacks.conftest import post_xml


def _garbage_path():
    return f"/wechat/callback/wxjunk{uuid.uuid4().hex[:10]}/?signature=x&timestamp=1&nonce=n"


def test_refusals_are_stored_up_to_a_limit_per_sender_and_appid(db, client_for, settings):
    settings.EKR_CALLBACK_REJECTS_PER_MINUTE = 3
    path = _garbage_path()
    appid = path.split("/")[3]
    client = client_for(None)
    answers = [post_xml(client, path, "<xml>junk</xml>").status_code for _ in range(5)]
    assert answers == [404, 404, 404, 429, 429]
    assert CallbackEvent.objects.filter(appid=appid, status="rejected").count() == 3
    # another sender for the same appid has its own budget
    other = client.post(path, data="<xml>junk</xml>", content_type="text/xml", REMOTE_ADDR="198.51.100.20")
    assert other.status_code == 404
    assert CallbackEvent.objects.filter(appid=appid, status="rejected").count() == 4


def test_a_body_over_the_cap_is_refused_and_not_stored(db, client_for, settings):
    path = _garbage_path()
    big = "<xml>" + "A" * (settings.EKR_CALLBACK_MAX_BODY_BYTES + 1) + "</xml>"
    from tenants.models import Brand
    from tests.callbacks.conftest import sender_for

    sender = sender_for(Brand.objects.get(slug="alpha"))
    response = post_xml(client_for(None), sender.path + "?" + path.split("?")[1], big)
    assert response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"
    row = CallbackEvent.objects.get(appid=sender.appid, status="rejected")
    assert row.raw == ""
    # and any stored body is cut
    post_xml(client_for(None), _garbage_path(), "<xml>" + "B" * 20_000 + "</xml>")
    assert max(len(r) for r in CallbackEvent.objects.values_list("raw", flat=True)) <= 4096


def test_old_refusals_are_purged_and_nothing_else(brand_a, client_for):
    path = _garbage_path()
    appid = path.split("/")[3]
    post_xml(client_for(None), path, "<xml>old</xml>")
    post_xml(client_for(None), path, "<xml>new</xml>")
    old, new = CallbackEvent.objects.filter(appid=appid).order_by("id")
    past = timezone.now() - timedelta(days=settings.EKR_CALLBACK_REJECTED_RETENTION_DAYS + 1)
    CallbackEvent.objects.filter(pk=old.pk).update(received_at=past)
    kept = CallbackEvent.objects.create(
        brand=brand_a, appid=appid, source="message", kind="text", dedup_key="msg:keep", status="done", payload={}
    )
    CallbackEvent.objects.filter(pk=kept.pk).update(received_at=past)

    assert callbacks_rejected_purge() == 1
    assert set(CallbackEvent.objects.filter(appid=appid).values_list("id", flat=True)) == {new.pk, kept.pk}
    assert "callbacks-purge-rejected" in settings.CELERY_BEAT_SCHEDULE
