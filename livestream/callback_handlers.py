"""Registers the live follow event into the WeChat callback pipeline (callbacks.registry)."""

from callbacks.registry import register


@register("event.wxalive_follow_notify")
def live_follow(event: dict) -> None:
    from livestream.services.follows import follow_from_payload

    follow_from_payload(event["payload"])
