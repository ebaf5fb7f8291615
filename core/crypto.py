"""Secrets at rest: Fernet encryption with a key derived from settings.EKR_FIELD_KEY, and keyed hashes for look-up.

`EncryptedTextField` stores ciphertext; reading it gives the plaintext back. `keyed_hash` gives a stable HMAC for
columns that must be searched without being readable (phone numbers, PIPL art. 51).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import models


@lru_cache(maxsize=4)
def _fernet(key_material: str) -> Fernet:
    digest = hashlib.sha256(("ekr-field-encryption:" + key_material).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(value: str) -> str:
    return _fernet(settings.EKR_FIELD_KEY).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet(settings.EKR_FIELD_KEY).decrypt(token.encode()).decode()
    except InvalidToken as exc:  # wrong key or tampered row: never return garbage
        raise ValueError("cannot decrypt field: wrong EKR_FIELD_KEY or tampered value") from exc


def keyed_hash(value: str, *, purpose: str) -> str:
    key = hashlib.sha256(("ekr-keyed-hash:" + purpose + ":" + settings.EKR_FIELD_KEY).encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def mask(value: str | None, *, keep: int = 4) -> str:
    """'wx1234567890abcd' -> '************abcd'. Empty stays empty."""
    if not value:
        return ""
    if len(value) <= keep:
        return "*" * len(value)
    return "*" * (len(value) - keep) + value[-keep:]


class EncryptedTextField(models.TextField):
    """A text column holding Fernet ciphertext; Python sees plaintext."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
