"""API tokens: issue, check, list, revoke; and their DRF authentication (`Authorization: Token ekr_...`).

HTTP Basic is not accepted by the staff, guide and ops APIs (it cost a password hash per request): a Basic
header is answered 401 with `WWW-Authenticate: Token`, pointing scripts at tokens.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import get_public_schema_name
from rest_framework import authentication, exceptions

from core.crypto import keyed_hash
from core.errors import NotFound
from core.models import ApiToken
from core.permissions import SCOPE_FIELDS, SCOPE_ROW_ATTR
from core.sql_reads import JoinedRead

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


@cache
def _token_read(*, with_scope: bool) -> JoinedRead:
    """The token by its prefix with its user (`select_related("user")`) in one fixed statement; on a brand host
    also SCOPE_FIELDS (the user's staff profile and guide link, LEFT JOINed through the user's reverse one-to-one
    relations, resolved from the user model so core names no app above it)."""
    user_model = get_user_model()
    joins, extra, joined = [], [], {}
    if with_scope:
        for name in SCOPE_FIELDS:
            relation, column_of = name.split("__")
            rel = user_model._meta.get_field(relation)  # a reverse one-to-one (members.StaffProfile.user, Guide.user)
            alias = f"s_{relation}"
            if alias not in joined:
                joined[alias] = rel.related_model
                joins.append(
                    f'LEFT JOIN {{{alias}}} ON {alias}."{rel.field.column}" = u."{user_model._meta.pk.column}"'
                )
            extra.append((f"_scope_{name}", f'{alias}."{rel.related_model._meta.get_field(column_of).column}"'))
    return JoinedRead(
        models=[("t", ApiToken), ("u", user_model)],
        attach=[("t", "user", "u")],
        joined=joined,
        extra=extra,
        tail='FROM {t} JOIN {u} ON u."id" = t."user_id" ' + " ".join(joins) + ' WHERE t."prefix" = %s LIMIT 1',
    )


def api_token_check(raw: str):
    """The active user behind a raw token, or None (unknown, wrong secret, revoked, expired, inactive user).

    One fixed statement (no ORM compile: it runs before every staff API call): the token, its user and, on a brand
    host, what core.permissions.staff_scope needs (the user's staff profile and guide link), so the scope costs no
    second query. `last_used_at` is written only when it is older than LAST_USED_RESOLUTION (a second statement at
    most every few minutes per token)."""
    parts = (raw or "").split("_", 2)
    if len(parts) != 3 or parts[0] != "ekr" or not parts[1] or not parts[2]:
        return None
    on_brand = connection.schema_name != get_public_schema_name()  # the scope's tables live in brand schemas
    found = _token_read(with_scope=on_brand)([parts[1][:16]])  # the prefix is unique
    token = found[0] if found else None
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
        setattr(token.user, SCOPE_ROW_ATTR, {name: getattr(token, f"_scope_{name}") for name in SCOPE_FIELDS})
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
