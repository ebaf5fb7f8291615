"""Replay memory for plaintext message callbacks: each signed (timestamp, nonce) of an app is remembered, with a
hash of its body, for as long as its timestamp is accepted (EKR_CALLBACK_MAX_SKEW_SECONDS either side of now).

- The same nonce with the same body is WeChat retrying: let through (the inbox's dedup key makes it a duplicate).
- The same nonce with another body is refused (403 `nonce_reused`): in plaintext mode the signature covers only
  token, timestamp and nonce, so a captured signature must not carry a body of the attacker's choosing.

Safe and compatible modes (encrypt_type=aes) need no memory and never reach Redis: msg_signature covers the
ciphertext too, so a captured signature carries only its own body, and a replay of that body decrypts to the same
message, which the inbox's unique (appid, dedup key) stores once.

Raw Redis keys carry the brand's schema (SECURITY.md). Redis unreachable: the plaintext callback is refused with
503, and WeChat retries it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

import redis
from django.conf import settings

from callbacks.verification import CallbackRejected
from core.redis_client import redis_client
from tenants.models import WeChatApp

logger = logging.getLogger(__name__)


def nonce_remember(*, app: WeChatApp, timestamp: str, nonce: str, body: bytes) -> None:
    """Remember (timestamp, nonce) -> sha256(body) of a plaintext callback; refuse the same pair with another body."""
    key = f"ekr:{app.brand.schema_name}:cb-nonce:{app.appid}:{timestamp[:16]}:{nonce[:64]}"
    digest = hashlib.sha256(body).hexdigest()
    ttl = 2 * settings.EKR_CALLBACK_MAX_SKEW_SECONDS + 60
    try:
        client = redis_client()
        if client.set(key, digest, nx=True, ex=ttl):
            return
        stored = client.get(key)
    except redis.RedisError as exc:
        logger.warning("callback replay memory unavailable (%s); plaintext callback refused", exc)
        raise CallbackRejected(503, "replay_check_unavailable", "Try again later.") from None
    if stored is not None and not hmac.compare_digest(stored.decode(), digest):
        raise CallbackRejected(403, "nonce_reused", "This nonce was already used with another body.")
