"""Registers the member-card events into the WeChat callback pipeline (callbacks.registry)."""
from callbacks.registry import register
from members.callbacks import CARD_EVENT_HANDLERS


def _card_handler(handle):
    def handler(event: dict) -> None:
        handle(event["payload"])

    handler.__name__ = handler.__qualname__ = f"card_{handle.__name__}"
    return handler


for _event_name, _handle in CARD_EVENT_HANDLERS.items():
    register(f"event.{_event_name}")(_card_handler(_handle))
