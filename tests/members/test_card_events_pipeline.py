"""Card events arrive through the WeChat callback pipeline (callbacks app) and reach the members handlers, once."""

from django.db import connection
from django_tenants.utils import schema_context

from callbacks.models import CallbackEvent
from callbacks.services import callback_process
from members.models import Member
from members.services import member_register
from tests.callbacks.conftest import post_xml, sender_for
from tests.callbacks.wechat import event_xml


def test_user_get_card_posted_by_wechat_links_the_card_to_the_member(brand_a, client_for):
    with schema_context(brand_a.schema_name):
        member, _ = member_register(openid="o-card-pipe", phone="13600000001")
    sender = sender_for(brand_a)
    path, body = sender.safe(
        event_xml(event="user_get_card", from_user="o-card-pipe", CardId="pCARD1", UserCardCode="CODE-PIPE-1")
    )

    first = post_xml(client_for(brand_a), path, body)
    again = post_xml(client_for(brand_a), path, body)  # WeChat's retry of the same event

    assert first.status_code == 200 and again.status_code == 200
    connection.set_schema_to_public()
    events = CallbackEvent.objects.filter(appid=sender.appid, kind="event.user_get_card")
    assert events.count() == 1
    assert callback_process(event_id=events.get().id).status == "done"
    with schema_context(brand_a.schema_name):
        member = Member.objects.get(pk=member.pk)
        assert member.card_code == "CODE-PIPE-1"
