"""Mini-program sessions: a wx.login() code for an ekr session token."""

from __future__ import annotations

import hmac

from django.core.cache import cache
from django.db import connection
from django.utils.translation import gettext_lazy as _

from core.crypto import keyed_hash
from core.errors import ApplicationError, NotFound
from members.models import Member
from members.mp_auth import member_token_issue
from members.services.visits import member_visit_record
from tenants.models import WeChatApp
from tenants.wechat import code_to_session, phone_from_code

SESSION_KEY_TTL = 3 * 24 * 3600


def _session_key_cache_key(appid: str, openid: str) -> str:
    return f"mp-session-key:{appid}:{keyed_hash(openid, purpose='mp-session-openid')[:40]}"


def _session_key_digest(session_key: str) -> str:
    return keyed_hash(session_key, purpose="mp-session-key")


def member_session_key_matches(*, appid: str, openid: str, session_key: str) -> bool:
    """Whether `session_key` is the one WeChat gave at this openid's latest login (within SESSION_KEY_TTL).

    Only a keyed hash (HMAC) of the session_key is kept, under a keyed hash of the openid: a copy of the cache
    gives neither, and nothing can be decrypted or signed with what is stored."""
    stored = cache.get(_session_key_cache_key(appid, openid))
    return bool(stored) and bool(session_key) and hmac.compare_digest(stored, _session_key_digest(session_key))


def member_session_start(*, appid: str, code: str) -> dict:
    """Exchange a wx.login() code for an ekr session token on the current brand's host.

    Returns {"token", "openid", "member_id"} (member_id None until the member registers); a member's session
    records their visit of the day (members.services.visits). The WeChat
    session_key is never returned or logged, and kept only as a keyed hash (member_session_key_matches).
    """
    app = (
        WeChatApp.objects.select_related("brand")
        .filter(appid=appid, brand__schema_name=connection.schema_name, kind=WeChatApp.Kind.MINIPROGRAM)
        .first()
    )
    if app is None:
        raise NotFound(
            _("This brand has no mini-program with that appid."),
            code="unknown_appid",
            fields={"appid": ["unknown for this brand"]},
        )
    if not code or len(code) > 128:
        raise ApplicationError(_("A login code is required."), code="invalid_code", fields={"code": ["required"]})
    result = code_to_session(app, code)
    openid = result["openid"]
    unionid = result.get("unionid", "") or ""
    if result.get("session_key"):
        cache.set(_session_key_cache_key(appid, openid), _session_key_digest(result["session_key"]), SESSION_KEY_TTL)
    member_id = Member.objects.filter(openid=openid).values_list("id", flat=True).first()
    if member_id is not None:
        member_visit_record(member_id=member_id)  # one row a day: the member's mini-program visit
    token = member_token_issue(schema=connection.schema_name, appid=appid, openid=openid, unionid=unionid)
    return {"token": token, "openid": openid, "member_id": member_id}


def member_phone_prove(*, appid: str, code: str) -> str:
    """The phone WeChat vouches for (a getPhoneNumber `code` for the session's mini-program), normalised.

    Called before any transaction: it is an outside call. Only a phone proven this way may claim an imported member.
    """
    from members.selectors import phone_normalize

    app = (
        WeChatApp.objects.select_related("brand")
        .filter(appid=appid, brand__schema_name=connection.schema_name, kind=WeChatApp.Kind.MINIPROGRAM)
        .first()
    )
    if app is None:
        raise NotFound(_("This brand has no mini-program with that appid."), code="unknown_appid")
    if not code or len(code) > 128:
        raise ApplicationError(
            _("A phone-number code is required."), code="invalid_phone_code", fields={"phone_code": ["required"]}
        )
    try:
        return phone_normalize(phone_from_code(app, code))
    except ValueError as exc:
        raise ApplicationError(
            _("WeChat vouched for a phone ekr cannot use."), code="invalid_phone", fields={"phone_code": [str(exc)]}
        ) from exc
