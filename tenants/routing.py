"""Host -> brand, with a small per-process cache so a request costs at most one registry look-up."""

from __future__ import annotations

from django.conf import settings

from core.process_cache import BoundedTTLCache
from tenants.models import Brand, Domain

# Unknown hosts are cached too (anyone can send any Host header): the bound keeps a flood from growing the
# process, and known brands, being asked for all the time, stay in it.
_cache: BoundedTTLCache[Brand | None] = BoundedTTLCache(
    max_entries=10_000, ttl=lambda: settings.EKR_TENANT_CACHE_SECONDS
)


def tenant_cache_clear() -> None:
    _cache.clear()


def brand_for_host(hostname: str) -> Brand | None:
    """The brand routed to `hostname`, or None. Cached for EKR_TENANT_CACHE_SECONDS (0 disables the cache)."""
    hit = _cache.get(hostname)
    if hit is not BoundedTTLCache.MISSING:
        return hit
    domain = Domain.objects.select_related("tenant").filter(domain=hostname).first()
    brand = domain.tenant if domain else None
    _cache.set(hostname, brand)
    return brand
