"""Mini-program member sessions. Members are not Django users: a signed, expiring token names brand and openid.

    Authorization: Bearer <token>

A token issued on brand A's host is refused (401) on brand B's host: the schema in the token must be the schema
the request was routed to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core import signing
from django.db import connection
from rest_framework import authentication, exceptions

SALT = "ekr.mp-session.v1"


@dataclass
class MemberPrincipal:
    """request.user for mini-program calls."""

    schema: str
    appid: str
    openid: str
    unionid: str = ""
    is_member: bool = field(default=True, init=False)
    is_authenticated: bool = field(default=True, init=False)
    is_active: bool = field(default=True, init=False)
    is_staff: bool = field(default=False, init=False)
    is_superuser: bool = field(default=False, init=False)
    id: None = field(default=None, init=False)
    pk: None = field(default=None, init=False)

    def member(self):
        """The registered Member of this openid in the current brand, or None."""
        from members.models import Member

        if not hasattr(self, "_member"):
            self._member = Member.objects.filter(openid=self.openid).first()
        return self._member


def member_token_issue(*, schema: str, appid: str, openid: str, unionid: str = "") -> str:
    return signing.dumps({"s": schema, "a": appid, "o": openid, "u": unionid}, salt=SALT, compress=True)


def member_token_read(token: str) -> MemberPrincipal:
    try:
        data = signing.loads(token, salt=SALT, max_age=settings.EKR_MP_TOKEN_TTL_SECONDS)
    except signing.SignatureExpired as exc:
        raise exceptions.AuthenticationFailed("Session expired; log in again.") from exc
    except signing.BadSignature as exc:
        raise exceptions.AuthenticationFailed("Invalid session token.") from exc
    if data.get("s") != connection.schema_name:
        raise exceptions.AuthenticationFailed("This session belongs to another brand.")
    return MemberPrincipal(schema=data["s"], appid=data["a"], openid=data["o"], unionid=data.get("u", ""))


class MemberTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        principal = member_token_read(header[1].decode("ascii", "replace"))
        return principal, header[1]

    def authenticate_header(self, request):
        return self.keyword
