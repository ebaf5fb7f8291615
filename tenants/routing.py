"""Host -> brand, with a small per-process cache so a request costs at most one registry look-up."""
from __future__ import annotations

import threading
import time

from django.conf import settings

from tenants.models import Brand, Domain

_cache: dict[str, tuple[float, Brand | None]] = {}
_lock = threading.Lock()


def tenant_cache_clear() -> None:
    with _lock:
        _cache.clear()


def brand_for_host(hostname: str) -> Brand | None:
    """The brand routed to `hostname`, or None. Cached for EKR_TENANT_CACHE_SECONDS (0 disables the cache)."""
    ttl = settings.EKR_TENANT_CACHE_SECONDS
    now = time.monotonic()
    if ttl:
        hit = _cache.get(hostname)
        if hit and hit[0] > now:
            return hit[1]
    domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
    brand = domain.tenant if domain else None
    if ttl:
        with _lock:
            if len(_cache) > 10_000:
                _cache.clear()
            _cache[hostname] = (now + ttl, brand)
    return brand
