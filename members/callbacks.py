"""Member-card events from the WeChat callback pipeline (callbacks.registry).

A handler is a members service declared with `@card_event("<WeChat event name>")` (members/services/cards.py). It
takes the parsed event (wechatpy's keys: FromUserName, CreateTime, Event, CardId, UserCardCode, UnionId ...), runs
in the brand's schema inside the pipeline's transaction, is idempotent (a retried event changes nothing) and
returns the Member or None. The decorator registers it as the callback kind "event.<name>"."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from callbacks.registry import register

if TYPE_CHECKING:
    from members.models import Member

CardEventHandler = Callable[[dict], "Member | None"]

CARD_EVENT_HANDLERS: dict[str, CardEventHandler] = {}


def card_event(name: str) -> Callable[[CardEventHandler], CardEventHandler]:
    """Decorator: the service handles the WeChat card event `name` (e.g. "user_get_card")."""

    def declare(handle: CardEventHandler) -> CardEventHandler:
        CARD_EVENT_HANDLERS[name] = handle

        @functools.wraps(handle)
        def handle_callback(event: dict) -> None:  # the pipeline passes the inbox row; the service wants the payload
            handle(event["payload"])

        register(f"event.{name}")(handle_callback)
        return handle

    return declare
