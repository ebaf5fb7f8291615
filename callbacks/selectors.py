"""Reads for the callback receiver."""

from __future__ import annotations

from django.conf import settings

from core.process_cache import BoundedTTLCache
from tenants.models import WeChatApp

_apps: BoundedTTLCache[WeChatApp] = BoundedTTLCache(max_entries=5_000, ttl=lambda: settings.EKR_TENANT_CACHE_SECONDS)


def wechat_app_for_callback(appid: str) -> WeChatApp | None:
    """The registered app (with its brand) for an appid, or None. Kept per process for
    EKR_TENANT_CACHE_SECONDS, like host routing (0 disables): saves a query and four decryptions per callback.
    A changed token or key takes effect within that time; unknown appids are never cached."""
    hit = _apps.get(appid)
    if hit is not BoundedTTLCache.MISSING:
        return hit
    app = WeChatApp.objects.select_related("brand").filter(appid=appid).first()
    if app is not None:
        _apps.set(appid, app)
    return app


def wechat_app_cache_clear() -> None:
    _apps.clear()
