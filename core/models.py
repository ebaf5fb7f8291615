"""API tokens for scripts and integrations (in every schema: a brand's users and the platform's ops users).

The raw token (`ekr_<prefix>_<secret>`) is shown once. Only a keyed SHA-256 (HMAC with EKR_FIELD_KEY) of the
secret is kept: checking a token costs one HMAC, not a password hash, so requests with any token are cheap.
"""

from django.conf import settings
from django.db import models


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=64, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user_id})"

    @property
    def active(self) -> bool:
        return self.revoked_at is None
