"""The client's address: REMOTE_ADDR, unless the deployment names a trusted proxy header.

EKR_TRUSTED_PROXY_HEADER (a META name such as HTTP_X_FORWARDED_FOR) is read only when set, and only the entry
the nearest EKR_TRUSTED_PROXY_COUNT proxies appended (counted from the right) is believed: whatever a client
puts at the left of X-Forwarded-For is never taken. Used by login lockout (axes), rate limits and logs.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    remote = request.META.get("REMOTE_ADDR", "") or ""
    header = settings.EKR_TRUSTED_PROXY_HEADER
    count = max(int(settings.EKR_TRUSTED_PROXY_COUNT), 1)
    if not header:
        return remote
    parts = [p.strip() for p in (request.META.get(header, "") or "").split(",") if p.strip()]
    if len(parts) < count:
        return remote
    candidate = parts[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
