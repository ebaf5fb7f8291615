"""The bench's callback handler: a card event makes (or finds) a member, as the members app will."""

from callbacks.registry import register


@register("event.ekr_bench_card")
def bench_card(event: dict) -> None:
    from members.models import Member

    Member.objects.get_or_create(openid=event["payload"]["FromUserName"])
