"""Reads for the callback receiver."""
from __future__ import annotations

import threading
import time

from django.conf import settings

from tenants.models import WeChatApp

_apps: dict[str, tuple[float, WeChatApp]] = {}
_lock = threading.Lock()


def wechat_app_for_callback(appid: str) -> WeChatApp | None:
    """The registered app (with its brand) for an appid, or None. Kept per process for
    EKR_TENANT_CACHE_SECONDS, like host routing (0 disables): saves a query and four decryptions per callback.
    A changed token or key takes effect within that time; unknown appids are never cached."""
    ttl = settings.EKR_TENANT_CACHE_SECONDS
    now = time.monotonic()
    if ttl:
        hit = _apps.get(appid)
        if hit and hit[0] > now:
            return hit[1]
    app = WeChatApp.objects.select_related("brand").filter(appid=appid).first()
    if ttl and app is not None:
        with _lock:
            if len(_apps) > 10_000:
                _apps.clear()
            _apps[appid] = (now + ttl, app)
    return app


def wechat_app_cache_clear() -> None:
    with _lock:
        _apps.clear()
