"""The inbox in admin: ops see every brand's callbacks; a brand's HQ only its own."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import connection
from django_tenants.utils import schema_context

from callbacks.models import CallbackEvent
from tests.callbacks.conftest import post_xml
from tests.callbacks.wechat import event_xml

URL = "/admin/callbacks/callbackevent/"


def receive(client, sender, **fields) -> CallbackEvent:
    path, body = sender.safe(event_xml(event="ekr_test_effect", **fields))
    assert post_xml(client, path, body).status_code == 200
    connection.set_schema_to_public()
    return CallbackEvent.objects.filter(appid=sender.appid).order_by("-id").first()


def hq_client(client_for, brand):
    client = client_for(brand)
    with schema_context(brand.schema_name):
        client.force_login(get_user_model().objects.get(username=f"{brand.slug}-hq"))
    return client


def test_brand_hq_sees_only_its_own_callbacks(sender_a, sender_b, client_for, brand_a, brand_b):
    event_a = receive(client_for(brand_a), sender_a)
    event_b = receive(client_for(brand_b), sender_b)
    client = hq_client(client_for, brand_b)

    listing = client.get(URL)
    assert listing.status_code == 200
    assert f"{URL}{event_b.id}/change/".encode() in listing.content
    assert f"{URL}{event_a.id}/change/".encode() not in listing.content
    assert sender_a.appid.encode() not in listing.content

    own = client.get(f"{URL}{event_b.id}/change/")
    assert own.status_code == 200 and b"FromUserName" in own.content  # the raw payload is shown
    other = client.get(f"{URL}{event_a.id}/change/")
    assert other.status_code == 302  # Django admin: "doesn't exist", back to the index
    assert b"FromUserName" not in other.content


def test_brand_hq_replay_cannot_touch_another_brands_rows(sender_a, sender_b, client_for, brand_a, brand_b):
    event_a = receive(client_for(brand_a), sender_a)
    event_b = receive(client_for(brand_b), sender_b)
    CallbackEvent.objects.filter(id__in=[event_a.id, event_b.id]).update(status="dead")
    client = hq_client(client_for, brand_b)
    client.post(URL, {"action": "replay", "_selected_action": [event_a.id, event_b.id]})
    assert CallbackEvent.objects.get(id=event_a.id).status == "dead"
    assert CallbackEvent.objects.get(id=event_b.id).status == "received"


def test_ops_admin_lists_every_brand_filters_and_replays(sender_a, sender_b, client_for, brand_a, brand_b):
    event_a = receive(client_for(brand_a), sender_a)
    event_b = receive(client_for(brand_b), sender_b)
    CallbackEvent.objects.filter(id=event_a.id).update(status="dead", last_error="RuntimeError: boom")
    ops = get_user_model().objects.create_superuser(username="ops", password="ops-password-1", email="")
    client = client_for(None)
    client.force_login(ops)

    listing = client.get(URL)
    assert listing.status_code == 200
    assert f"{URL}{event_a.id}/change/".encode() in listing.content
    assert f"{URL}{event_b.id}/change/".encode() in listing.content
    dead_only = client.get(URL, {"status__exact": "dead", "brand__id__exact": brand_a.id})
    assert f"{URL}{event_a.id}/change/".encode() in dead_only.content
    assert f"{URL}{event_b.id}/change/".encode() not in dead_only.content
    assert b"RuntimeError: boom" in dead_only.content
    assert client.get(f"{URL}{event_a.id}/change/").status_code == 200

    client.post(URL, {"action": "replay", "_selected_action": [event_a.id]})
    assert CallbackEvent.objects.get(id=event_a.id).status == "received"
