"""Messages and events over HTTP as WeChat sends them: verified, stored once, answered; bad input refused."""

from __future__ import annotations

import time

import pytest
from wechatpy.crypto import WeChatCrypto

from callbacks.models import CallbackEvent
from tests.callbacks.conftest import post_xml
from tests.callbacks.handlers import EFFECT_KIND
from tests.callbacks.wechat import WeChatSender, event_xml

EFFECT = "ekr_test_effect"
Status = CallbackEvent.Status


def rejected(**filters) -> CallbackEvent:
    rows = list(CallbackEvent.objects.filter(status=Status.REJECTED, **filters))
    assert len(rows) == 1, rows
    return rows[0]


def test_server_check_echoes_on_a_good_signature(sender_a, client_for, brand_a):
    response = client_for(brand_a).get(sender_a.check(echostr="abc123"))
    assert response.status_code == 200
    assert response.content == b"abc123"


@pytest.mark.parametrize("case", ["bad_signature", "stale_timestamp"])
def test_server_check_refuses_and_keeps_the_attempt(case, sender_a, client_for, brand_a):
    bad = WeChatSender(sender_a.appid, "wrong-token", sender_a.aes_key) if case == "bad_signature" else sender_a
    path = bad.check(timestamp=int(time.time()) - 3600 if case == "stale_timestamp" else None)
    response = client_for(brand_a).get(path)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == case
    assert rejected(appid=sender_a.appid).last_error.startswith(case)


@pytest.mark.parametrize("mode", ["plain", "safe", "compatible"])
def test_an_event_is_verified_stored_and_answered_success(mode, sender_a, plain_a, client_for, brand_a):
    # given a card event in each of WeChat's three modes
    xml = event_xml(event="user_get_card", from_user="oMode" + mode, CardId="pCard1", UserCardCode="123456789")
    if mode == "plain":
        sender_a = plain_a  # plaintext only for an app without EncodingAESKey
        path, body = sender_a.plain(xml)
    else:
        path, body = sender_a.safe(xml, compatible=(mode == "compatible"))
    # when WeChat posts it to the brand's host
    response = post_xml(client_for(brand_a), path, body)
    # then it is answered at once and stored for processing, decrypted
    assert response.status_code == 200, response.content
    assert response.content == b"success"
    event = CallbackEvent.objects.get(appid=sender_a.appid, kind="event.user_get_card")
    assert event.brand_id == brand_a.id
    assert event.status == Status.RECEIVED  # members handles card events: kept for the worker
    assert event.payload["FromUserName"] == "oMode" + mode
    assert event.payload["UserCardCode"] == "123456789"
    assert "Encrypt" not in event.payload or mode == "compatible"
    assert event.dedup_key.startswith("evt:oMode" + mode)


def test_a_handled_kind_is_stored_received_for_the_worker(sender_a, client_for, brand_a):
    path, body = sender_a.safe(event_xml(event=EFFECT))
    assert post_xml(client_for(brand_a), path, body).status_code == 200
    event = CallbackEvent.objects.get(appid=sender_a.appid)
    assert (event.kind, event.status, event.attempts) == (EFFECT_KIND, Status.RECEIVED, 0)


def test_platform_host_and_no_trailing_slash_are_accepted(sender_a, client_for):
    path, body = sender_a.safe(event_xml(event=EFFECT))
    response = post_xml(client_for(None), path.replace(f"{sender_a.appid}/?", f"{sender_a.appid}?"), body)
    assert response.status_code == 200, response.content
    assert CallbackEvent.objects.get(appid=sender_a.appid).brand_id is not None


def test_second_delivery_is_acknowledged_and_not_stored_again(sender_a, client_for, brand_a):
    xml = event_xml(event=EFFECT, from_user="oDup", create_time=1_700_000_000)
    for _ in range(3):  # WeChat redelivers with a new nonce and timestamp each time
        path, body = sender_a.safe(xml)
        response = post_xml(client_for(brand_a), path, body)
        assert (response.status_code, response.content) == (200, b"success")
    assert CallbackEvent.objects.filter(appid=sender_a.appid).count() == 1


def test_dedup_uses_msgid_then_sender_time_event_and_card_code(plain_a, client_for, brand_a):
    client = client_for(brand_a)
    for xml in [
        event_xml(msg_type="text", msg_id="9001", Content="hi"),
        event_xml(msg_type="text", msg_id="9001", Content="hi again"),  # same MsgId: same message
        event_xml(msg_type="text", msg_id="9002", Content="hi"),
        event_xml(event="user_get_card", create_time=1_700_000_001, UserCardCode="c1"),
        event_xml(event="user_get_card", create_time=1_700_000_001, UserCardCode="c2"),  # another card code
        event_xml(event="user_get_card", create_time=1_700_000_001, UserCardCode="c2"),  # duplicate
    ]:
        assert post_xml(client, *plain_a.plain(xml)).status_code == 200
    keys = sorted(CallbackEvent.objects.filter(appid=plain_a.appid).values_list("dedup_key", flat=True))
    assert keys == [
        "evt:oUser0001:1700000001:user_get_card:c1::",
        "evt:oUser0001:1700000001:user_get_card:c2::",
        "msg:9001",
        "msg:9002",
    ]


def test_unknown_appid_is_404_and_kept_without_brand(client_for, brand_a):
    path, body = WeChatSender("wxnobody000000001", "t", "k" * 43).safe(event_xml())
    response = post_xml(client_for(brand_a), path, body)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_appid"
    row = rejected(appid="wxnobody000000001")
    assert row.brand_id is None and row.dedup_key is None and "<xml>" in row.raw


def test_another_brands_appid_on_a_brand_host_is_404(sender_a, client_for, brand_b):
    path, body = sender_a.safe(event_xml(event=EFFECT))
    response = post_xml(client_for(brand_b), path, body)
    assert response.status_code == 404
    row = rejected(appid=sender_a.appid)
    assert row.brand_id is None
    assert not CallbackEvent.objects.exclude(status=Status.REJECTED).exists()


def test_bad_signature_plaintext_is_403(plain_a, client_for, brand_a):
    path, body = plain_a.plain(event_xml(event=EFFECT), token="not-the-token")
    response = post_xml(client_for(brand_a), path, body)
    assert response.status_code == 403
    assert rejected(appid=plain_a.appid).last_error.startswith("bad_signature")


def test_bad_msg_signature_is_403(sender_a, client_for, brand_a):
    path, body = sender_a.safe(event_xml(event=EFFECT))
    path = path.replace("msg_signature=", "msg_signature=0")
    response = post_xml(client_for(brand_a), path, body)
    assert response.status_code == 403
    assert rejected(appid=sender_a.appid).last_error.startswith("bad_signature")


def test_tampered_ciphertext_is_403(sender_a, client_for, brand_a):
    path, body = sender_a.safe(event_xml(event=EFFECT))
    tampered = body.replace("<Encrypt><![CDATA[", "<Encrypt><![CDATA[AAAA")
    response = post_xml(client_for(brand_a), path, tampered)
    assert response.status_code == 403
    assert rejected(appid=sender_a.appid).brand_id == brand_a.id


@pytest.mark.parametrize("crypto_for", ["other_key", "other_appid"])
def test_ciphertext_not_sealed_for_this_app_is_refused(crypto_for, sender_a, client_for, brand_a):
    # signed with the right token (so msg_signature matches) but encrypted with another key or for another appid
    crypto = (
        WeChatCrypto(sender_a.token, "j" * 43, sender_a.appid)
        if crypto_for == "other_key"
        else WeChatCrypto(sender_a.token, sender_a.aes_key, "wxsomeoneelse0001")
    )
    path, body = sender_a.safe(event_xml(event=EFFECT), crypto=crypto)
    response = post_xml(client_for(brand_a), path, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "decrypt_failed"
    assert rejected(appid=sender_a.appid).last_error.startswith("decrypt_failed")


@pytest.mark.parametrize("offset", [-301, 301, -86400])
def test_timestamp_far_from_now_is_403(offset, sender_a, client_for, brand_a):
    path, body = sender_a.safe(event_xml(event=EFFECT), timestamp=int(time.time()) + offset)
    response = post_xml(client_for(brand_a), path, body)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "stale_timestamp"
    rejected(appid=sender_a.appid)


def test_timestamp_within_the_window_is_accepted(sender_a, client_for, brand_a, settings):
    settings.EKR_CALLBACK_MAX_SKEW_SECONDS = 600
    path, body = sender_a.safe(event_xml(event=EFFECT), timestamp=int(time.time()) - 500)
    assert post_xml(client_for(brand_a), path, body).status_code == 200


@pytest.mark.parametrize(
    "body,code",
    [
        ("this is not xml", "not_xml"),
        ("", "not_xml"),
        ('{"json": true}', "not_xml"),
        ("<root><a>1</a></root>", "not_wechat_xml"),
        ("<xml><FromUserName>o</FromUserName></xml>", "not_wechat_message"),
        (
            '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            "<xml><ToUserName>&b;</ToUserName></xml>",
            "not_xml",
        ),
    ],
)
def test_a_body_that_is_not_wechat_xml_is_400(body, code, plain_a, client_for, brand_a):
    path, _ = plain_a.plain("")
    response = post_xml(client_for(brand_a), path, body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    row = rejected(appid=plain_a.appid)
    assert row.last_error.startswith(code) and row.dedup_key is None


def test_encrypted_mode_body_that_is_not_xml_is_400(sender_a, client_for, brand_a):
    path, _ = sender_a.safe(event_xml())
    response = post_xml(client_for(brand_a), path, b"\x00\xff garbage")
    assert response.status_code == 400
    rejected(appid=sender_a.appid)


def test_rejected_garbage_does_not_block_the_real_event(plain_a, client_for, brand_a):
    xml = event_xml(event=EFFECT, create_time=1_700_000_123)
    for _ in range(2):
        path, body = plain_a.plain(xml, token="forged")
        assert post_xml(client_for(brand_a), path, body).status_code == 403
    path, body = plain_a.plain(xml)
    assert post_xml(client_for(brand_a), path, body).status_code == 200
    assert CallbackEvent.objects.filter(appid=plain_a.appid, status=Status.REJECTED).count() == 2
    assert CallbackEvent.objects.filter(appid=plain_a.appid, status=Status.RECEIVED).count() == 1


def test_suspended_brand_is_refused_on_the_platform_host(sender_a, client_for, brand_a):
    from tenants.services import brand_suspend

    brand_suspend(brand=brand_a)
    path, body = sender_a.safe(event_xml(event=EFFECT))
    response = post_xml(client_for(None), path, body)
    assert response.status_code == 403
    assert rejected(appid=sender_a.appid).last_error.startswith("brand_suspended")
