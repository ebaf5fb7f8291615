"""What a room brought: orders placed from it (with the sharer) and members who joined from it. Filled into the
hooks of miniprograms (order placed) and members (join channel, member registered) by LivestreamConfig.ready().

"From a room" means: the openid sent audience events to the room within EKR_LIVE_ATTRIBUTION_SECONDS before
(the viewer key the events endpoint refreshes, livestream.services.audience.viewer_last_room)."""

from __future__ import annotations

from livestream.models import LiveJoin, LiveOrder, LiveRoom, LiveViewer
from livestream.services.audience import viewer_last_room
from members.models import Member


def order_attribute(order) -> LiveOrder | None:
    """Runs inside order_place's transaction: record the room and sharer of an order placed from a room."""
    openid = order.member.openid if order.member_id else None
    last = viewer_last_room(openid) if openid else None
    if last is None or not LiveRoom.objects.filter(pk=last[0]).exists():
        return None
    room_id, guide_id, sharer_member_id = last
    row, _ = LiveOrder.objects.get_or_create(
        order=order,
        defaults={
            "room_id": room_id,
            "sharer_guide_id": guide_id,
            "sharer_member_id": sharer_member_id,
            "created_at": order.created_at,
        },
    )
    return row


def join_channel_for(openid: str) -> str | None:
    """Members' join-channel resolver: an openid that was just watching a room joins through live."""
    return Member.Channel.LIVE_STREAM if viewer_last_room(openid) else None


def member_joined(member: Member) -> None:
    """Runs inside member_register's transaction: link the openid's viewer rows to the member, record the room
    the member joined from, and hand out the post-show coupons they qualified for (within 72 hours)."""
    from livestream.services.coupons import coupons_for_new_member

    if not member.openid:
        return
    LiveViewer.objects.filter(openid=member.openid, member__isnull=True).update(member=member)
    last = viewer_last_room(member.openid)
    if last and member.join_channel == Member.Channel.LIVE_STREAM and LiveRoom.objects.filter(pk=last[0]).exists():
        LiveJoin.objects.get_or_create(member=member, defaults={"room_id": last[0], "joined_at": member.joined_at})
    coupons_for_new_member(member)
