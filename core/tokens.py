"""API tokens: issue, check, list, revoke; and their DRF authentication (`Authorization: Token ekr_...`).

HTTP Basic is not accepted by the staff, guide and ops APIs (it cost a password hash per request): a Basic
header is answered 401 with `WWW-Authenticate: Token`, pointing scripts at tokens.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import get_public_schema_name
from rest_framework import authentication, exceptions

from core.crypto import keyed_hash
from core.errors import NotFound
from core.models import ApiToken
from core.permissions import SCOPE_FIELDS, SCOPE_ROW_ATTR

PURPOSE = "api-token"
LAST_USED_RESOLUTION = timedelta(minutes=5)  # last_used_at is written at most this often per token


def api_token_issue(*, user, name: str = "", expires_at=None) -> tuple[ApiToken, str]:
    """A new token for `user`; returns (row, raw token). The raw token is never stored or shown again."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name[:64], prefix=prefix, expires_at=expires_at, key_hash=keyed_hash(secret, purpose=PURPOSE)
    )
    return token, f"ekr_{prefix}_{secret}"


def api_token_check(raw: str):
    """The active user behind a raw token, or None (unknown, wrong secret, revoked, expired, inactive user).

    One query on a brand host: the token, its user and what core.permissions.staff_scope needs (the user's staff
    profile and guide link, joined and left on the user), so the scope costs no second query. `last_used_at` is written only when it is
    older than LAST_USED_RESOLUTION (a second statement at most every few minutes per token)."""
    parts = (raw or "").split("_", 2)
    if len(parts) != 3 or parts[0] != "ekr" or not parts[1] or not parts[2]:
        return None
    qs = ApiToken.objects.select_related("user").filter(prefix=parts[1][:16]).order_by()  # the prefix is unique
    on_brand = connection.schema_name != get_public_schema_name()  # the scope's tables live in brand schemas
    if on_brand:
        qs = qs.annotate(**{f"scope_{n}": F(f"user__{name}") for n, name in enumerate(SCOPE_FIELDS)})
    token = next(iter(qs[:1]), None)
    if token is None or token.revoked_at is not None or not token.user.is_active:
        return None
    if not hmac.compare_digest(token.key_hash, keyed_hash(parts[2], purpose=PURPOSE)):
        return None
    now = timezone.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION), pk=token.pk
        ).update(last_used_at=now)
    if on_brand:
        setattr(token.user, SCOPE_ROW_ATTR, {name: getattr(token, f"scope_{n}") for n, name in enumerate(SCOPE_FIELDS)})
    return token.user


@transaction.atomic
def api_token_revoke(*, user, token_id: int) -> ApiToken:
    """Revoke one of `user`'s tokens (another user's token is a 404). Revoking again changes nothing."""
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=user).first()
    if token is None:
        raise NotFound(_("No such token."))
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        scheme = header[0].lower()
        if scheme == b"basic":
            raise exceptions.AuthenticationFailed(_("HTTP Basic is not accepted here; use an API token."))
        if scheme != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Authorization header must be 'Token <token>'."))
        user = api_token_check(header[1].decode("ascii", "replace"))
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        return user, None

    def authenticate_header(self, request):
        return f'{self.keyword} realm="api"'
