"""Which code processes which kind of WeChat callback. Other apps register into it:

    # members/callback_handlers.py  (any app's `callback_handlers` module is imported at start-up)
    from callbacks.registry import register

    @register("event.user_get_card")
    def card_received(event: dict) -> None:
        ...

A handler runs in a Celery worker, inside the brand's schema, inside one database transaction that also marks
the inbox row done: its database writes and the `done` flip commit together or not at all, so a handler that
only writes to the database takes effect exactly once. Side effects outside the database (WeChat API calls,
Redis) must be queued with `transaction.on_commit` or be idempotent on `event["id"]`.

The event dict a handler receives:
    id            the inbox row id (a stable idempotency key)
    appid         the WeChat app the callback was for
    kind          e.g. "event.user_get_card", "event.subscribe", "text", "pay.notify"
    brand_id      tenants.Brand id; the connection is already in that brand's schema
    schema_name   the brand's schema
    payload       the verified message as a dict of strings (XML fields by name: FromUserName, CreateTime,
                  Event, CardId, UserCardCode...; for pay: out_trade_no, transaction_id, total_fee...)
    received_at   aware datetime
    attempt       1 for the first try

Raising makes the attempt fail (retried with backoff, dead after EKR_CALLBACK_MAX_ATTEMPTS);
`IgnoreEvent` marks the event ignored (nothing to do); `PermanentFailure` marks it dead at once (a retry cannot
help, e.g. a pay notification whose amount does not match the order: ops look at it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured

Handler = Callable[[dict[str, Any]], None]

_handlers: dict[str, Handler] = {}
_queues: dict[str, str] = {}


class IgnoreEvent(Exception):
    """Raised by a handler: nothing to do for this event. The row is marked ignored with the message."""


class PermanentFailure(Exception):
    """Raised by a handler: retrying cannot help. The row is marked dead at once with the message."""


def normalize_kind(kind: str) -> str:
    return kind.strip().lower()


def register(kind: str, *, queue: str | None = None) -> Callable[[Handler], Handler]:
    """Decorator: `fn` processes callbacks of `kind` (optionally on its own Celery queue). One handler per kind."""
    kind = normalize_kind(kind)

    def decorate(fn: Handler) -> Handler:
        existing = _handlers.get(kind)
        if existing is not None and _qualname(existing) != _qualname(fn):
            raise ImproperlyConfigured(
                f"callback kind {kind!r} already handled by {_qualname(existing)}; cannot add {_qualname(fn)}"
            )
        _handlers[kind] = fn
        if queue:
            _queues[kind] = queue
        return fn

    return decorate


def unregister(kind: str) -> None:
    kind = normalize_kind(kind)
    _handlers.pop(kind, None)
    _queues.pop(kind, None)


def handler_for(kind: str) -> Handler | None:
    return _handlers.get(normalize_kind(kind))


def queue_for(kind: str) -> str | None:
    return _queues.get(normalize_kind(kind))


def registered_kinds() -> list[str]:
    return sorted(_handlers)


def load_handler_modules() -> None:
    """Import every installed app's `callback_handlers` module and the modules in EKR_CALLBACK_HANDLER_MODULES."""
    from importlib import import_module

    from django.conf import settings
    from django.utils.module_loading import autodiscover_modules

    autodiscover_modules("callback_handlers")
    for name in settings.EKR_CALLBACK_HANDLER_MODULES:
        import_module(name)


def _qualname(fn: Handler) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
