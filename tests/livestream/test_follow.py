"""wxalive_follow_notify arrives through the callback pipeline and is stored once, also when delivered twice."""

from __future__ import annotations

from django.db import connection
from django_tenants.utils import schema_context

from callbacks.models import CallbackEvent
from callbacks.services import callback_process
from livestream.models import LiveFollow
from livestream.services.follows import follow_from_payload
from tests.callbacks.conftest import post_xml, sender_for


def follow_xml(*, openid: str, room_id: int, action: str = "add_follow", at: int = 1767225600) -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_brand]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{at}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[wxalive_follow_notify]]></Event>"
        f"<FollowNotify><room_id>{room_id}</room_id><user_openid><![CDATA[{openid}]]></user_openid>"
        f"<time>{at}</time><live_status>102</live_status><action><![CDATA[{action}]]></action>"
        "</FollowNotify></xml>"
    )


def test_follow_event_posted_twice_is_stored_once(brand_a, client_for):
    sender = sender_for(brand_a)
    path, body = sender.safe(follow_xml(openid="o-follow-1", room_id=77))

    first = post_xml(client_for(brand_a), path, body)
    again = post_xml(client_for(brand_a), path, body)

    assert first.status_code == 200 and again.status_code == 200
    connection.set_schema_to_public()
    events = CallbackEvent.objects.filter(appid=sender.appid, kind="event.wxalive_follow_notify")
    assert events.count() == 1
    assert callback_process(event_id=events.get().id).status == "done"
    with schema_context(brand_a.schema_name):
        follow = LiveFollow.objects.get()
        assert (follow.wechat_room_id, follow.openid, follow.action, follow.live_status) == (
            77,
            "o-follow-1",
            "add_follow",
            102,
        )


def test_the_same_follow_with_another_create_time_is_still_one_row(brand_a):
    import xmltodict

    with schema_context(brand_a.schema_name):
        for create_time in (1767225600, 1767225607):
            payload = xmltodict.parse(follow_xml(openid="o-follow-2", room_id=78))["xml"]
            payload["CreateTime"] = str(create_time)
            follow_from_payload(payload)
        assert LiveFollow.objects.filter(openid="o-follow-2").count() == 1
        unfollow = xmltodict.parse(follow_xml(openid="o-follow-2", room_id=78, action="del_follow"))["xml"]
        follow_from_payload(unfollow)
        assert sorted(LiveFollow.objects.filter(openid="o-follow-2").values_list("action", flat=True)) == [
            "add_follow",
            "del_follow",
        ]
