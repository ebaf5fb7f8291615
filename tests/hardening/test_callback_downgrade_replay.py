"""Defect 5: an app with an EncodingAESKey never accepts plaintext; a signed nonce cannot carry another body."""

from urllib.parse import parse_qs, urlparse

import pytest

from callbacks.models import CallbackEvent
from tests.callbacks.conftest import plain_a, post_xml, sender_a, sender_b  # noqa: F401  (fixtures)
from tests.callbacks.wechat import WeChatSender, event_xml


def test_plaintext_is_refused_for_an_app_with_an_aes_key(sender_a, client_for, brand_a):  # noqa: F811
    # a plaintext request correctly signed with the app's token (the plain signature covers no body)
    path, body = sender_a.plain(event_xml(event="user_get_card", UserCardCode="forged-card"))
    response = post_xml(client_for(brand_a), path, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plaintext_refused"
    assert not CallbackEvent.objects.filter(appid=sender_a.appid).exclude(status="rejected").exists()
    # the same event encrypted is accepted
    path, body = sender_a.safe(event_xml(event="user_get_card", UserCardCode="real-card"))
    assert post_xml(client_for(brand_a), path, body).status_code == 200


def test_a_retry_with_the_same_nonce_and_body_is_a_duplicate(plain_a, client_for, brand_a):  # noqa: F811
    path, body = plain_a.plain(event_xml(msg_type="text", msg_id="77001", Content="hi"))
    first = post_xml(client_for(brand_a), path, body)
    again = post_xml(client_for(brand_a), path, body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert CallbackEvent.objects.filter(appid=plain_a.appid).exclude(status="rejected").count() == 1


def test_the_same_nonce_with_another_body_is_refused(plain_a, client_for, brand_a):  # noqa: F811
    path, body = plain_a.plain(event_xml(msg_type="text", msg_id="77002", Content="real"))
    assert post_xml(client_for(brand_a), path, body).status_code == 200
    # an attacker who saw the signed query posts their own body with it, inside the timestamp window
    forged = event_xml(msg_type="text", msg_id="77003", Content="forged")
    response = post_xml(client_for(brand_a), path, forged)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "nonce_reused"
    assert list(
        CallbackEvent.objects.filter(appid=plain_a.appid).exclude(status="rejected").values_list("dedup_key", flat=True)
    ) == ["msg:77002"]


def test_the_replay_memory_is_per_app(plain_a, sender_b, client_for, brand_a, brand_b):  # noqa: F811
    # the same timestamp and nonce on another app is another key
    path, body = plain_a.plain(event_xml(msg_type="text", msg_id="77004", Content="a"))
    assert post_xml(client_for(brand_a), path, body).status_code == 200
    query = parse_qs(urlparse(path).query)
    other = WeChatSender(sender_b.appid, sender_b.token, sender_b.aes_key)
    path_b, body_b = other.safe(
        event_xml(msg_type="text", msg_id="77005", Content="b"), timestamp=int(query["timestamp"][0])
    )
    assert post_xml(client_for(brand_b), path_b, body_b).status_code == 200


@pytest.mark.parametrize("compatible", [False, True])
def test_safe_mode_needs_no_replay_memory(compatible, sender_a, client_for, brand_a, redis_client):  # noqa: F811
    path, body = sender_a.safe(event_xml(event="user_get_card", UserCardCode="safe-1"), compatible=compatible)
    query = parse_qs(urlparse(path).query)
    # a replay of the whole request (same nonce, same body) is a duplicate: one row
    assert [post_xml(client_for(brand_a), path, body).status_code for _ in range(2)] == [200, 200]
    stored = CallbackEvent.objects.filter(appid=sender_a.appid).exclude(status="rejected")
    assert list(stored.values_list("payload__UserCardCode", flat=True)) == ["safe-1"]
    # the signed query with another ciphertext: msg_signature covers the ciphertext, so no memory is needed
    _, other = sender_a.safe(event_xml(event="user_get_card", UserCardCode="forged"), compatible=compatible)
    response = post_xml(client_for(brand_a), path, other)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert stored.count() == 1
    # and none of it cost a Redis round trip
    assert redis_client.keys(f"ekr:*:cb-nonce:{sender_a.appid}:{query['timestamp'][0]}:*") == []
