"""The process's Redis client (one connection pool) for raw Redis use: counters, coalescing keys, WeChat access
tokens. Raw keys are not covered by django-tenants' cache key function: every key written through this client
carries the schema itself (SECURITY.md)."""

from functools import lru_cache

import redis
from django.conf import settings


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
