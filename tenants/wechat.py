"""The one way to reach WeChat: wechatpy clients whose base URLs come from settings.

WECHAT_API_BASE_URL and WECHATPAY_API_BASE_URL point at WeChat in production and at the fake WeChat
(tests/fake_wechat) in tests and staging. Access tokens are cached in Redis per brand and appid.

What a failed WeChat call means to ekr is decided here, once (`wechat_errors`):
- an errcode the caller gives a meaning (a used login code is the client's mistake: 400) raises that error;
- WeChat busy (errcode -1 system busy, 45009 daily quota reached, 45011 too frequent) or unreachable (a network
  error from requests/urllib3) raises WeChatUnavailable: a task retries it, a client gets a 502;
- any other errcode raises what the caller asks for (`refused`), else wechatpy's WeChatClientException as is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from wechatpy import WeChatClient
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.exceptions import WeChatClientException
from wechatpy.session.redisstorage import RedisStorage

from core.errors import ApplicationError
from core.redis_client import redis_client
from tenants.models import WeChatApp

_WECHAT_DEFAULT = "https://api.weixin.qq.com/"


class WeChatUnavailable(ApplicationError):
    code = "wechat_unavailable"
    status_code = 502


BUSY_ERRCODES = frozenset({-1, 45009, 45011})  # system busy, daily quota reached, too frequent


def _unreachable(exc: Exception) -> bool:
    return type(exc).__module__.startswith(("requests", "urllib3"))


@contextmanager
def wechat_errors(
    meanings: Mapping[int, Callable[[int], Exception]] | None = None,
    *,
    refused: Callable[[int], Exception] | None = None,
) -> Iterator[None]:
    """Around one WeChat call: turns what went wrong into ekr's errors (see the module docstring). `meanings` and
    `refused` take the errcode and return the error to raise."""
    try:
        yield
    except WeChatClientException as exc:
        if meanings and exc.errcode in meanings:
            raise meanings[exc.errcode](exc.errcode) from exc
        if exc.errcode in BUSY_ERRCODES:
            raise WeChatUnavailable(_("WeChat answered errcode %(errcode)s."), params={"errcode": exc.errcode}) from exc
        if refused is not None:
            raise refused(exc.errcode) from exc
        raise
    except Exception as exc:
        if _unreachable(exc):
            raise WeChatUnavailable(_("WeChat could not be reached.")) from exc
        raise


def _rebase(url: str) -> str:
    base = settings.WECHAT_API_BASE_URL
    if not base.endswith("/"):
        base += "/"
    return base + url[len(_WECHAT_DEFAULT) :] if url.startswith(_WECHAT_DEFAULT) else url


class EkrWeChatClient(WeChatClient):
    """wechatpy's client with every WeChat URL rebased onto settings.WECHAT_API_BASE_URL."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.API_BASE_URL = _rebase(WeChatClient.API_BASE_URL)
        for endpoint in list(vars(self).values()):  # the API endpoints wechatpy bound to this instance
            base = getattr(type(endpoint), "API_BASE_URL", None)
            if isinstance(base, str) and base and isinstance(endpoint, BaseWeChatAPI):
                endpoint.API_BASE_URL = _rebase(base)

    def fetch_access_token(self):
        return self._fetch_access_token(
            url=_rebase("https://api.weixin.qq.com/cgi-bin/token"),
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


def wechat_client(app: WeChatApp) -> EkrWeChatClient:
    """A client for one WeChat app; access tokens cached in Redis under the brand's schema and the appid."""
    storage = RedisStorage(redis_client(), prefix=f"ekr:{app.brand.schema_name}:wechat")
    return EkrWeChatClient(app.appid, app.secret, session=storage, timeout=settings.WECHAT_HTTP_TIMEOUT)


def _invalid_code(errcode: int) -> ApplicationError:
    return ApplicationError(
        "The login code is invalid or was already used.",
        code="invalid_code",
        fields={"code": [f"WeChat errcode {errcode}"]},
    )


_LOGIN_CODE_MEANINGS = {
    40029: _invalid_code,
    40163: _invalid_code,
    40226: _invalid_code,  # invalid, already used, blocked user
    45011: lambda errcode: ApplicationError(
        "Too many logins; try again in a minute.", code="throttled", status_code=429
    ),
}


def code_to_session(app: WeChatApp, code: str) -> dict:
    """jscode2session: {'openid', 'session_key', 'unionid'?}. A bad code is a 400; WeChat down is a 502."""
    with wechat_errors(
        _LOGIN_CODE_MEANINGS, refused=lambda errcode: WeChatUnavailable(f"WeChat answered errcode {errcode}.")
    ):
        result = wechat_client(app).wxa.code_to_session(code)
    if not isinstance(result, dict) or "openid" not in result:
        raise WeChatUnavailable(_("WeChat answered without an openid."))
    return result


def phone_from_code(app: WeChatApp, code: str) -> str:
    """wxa/business/getuserphonenumber: the phone WeChat vouches for, from a getPhoneNumber button's `code`.

    Returns `phone_info.purePhoneNumber` (no country code). A bad or used code is a 400; WeChat down is a 502.
    A number whose watermark names another app is refused: the code was issued to someone else's mini-program.
    """
    try:
        result = wechat_client(app).post(
            _rebase(_WECHAT_DEFAULT + "wxa/business/getuserphonenumber"), data={"code": code}
        )
    except WeChatClientException as exc:
        if exc.errcode in (40029, 40163, 40226, 40013):
            raise ApplicationError(
                _("The phone-number code is invalid or was already used."),
                code="invalid_phone_code",
                fields={"phone_code": [f"WeChat errcode {exc.errcode}"]},
            ) from exc
        raise WeChatUnavailable(_("WeChat answered errcode %(errcode)s."), params={"errcode": exc.errcode}) from exc
    except Exception as exc:
        raise WeChatUnavailable(_("WeChat could not be reached.")) from exc
    info = result.get("phone_info") if isinstance(result, dict) else None
    if not isinstance(info, dict) or not info.get("purePhoneNumber"):
        raise WeChatUnavailable(_("WeChat answered without a phone number."))
    watermark = info.get("watermark") or {}
    if watermark.get("appid") and watermark["appid"] != app.appid:
        raise ApplicationError(
            _("The phone-number code belongs to another mini-program."),
            code="invalid_phone_code",
            fields={"phone_code": ["issued to another app"]},
        )
    return str(info["purePhoneNumber"])


def wechat_api(app: WeChatApp, api_class: type[BaseWeChatAPI]) -> BaseWeChatAPI:
    """An extra wechatpy API class (one wechatpy lacks, e.g. livestream's WeChatLive) bound to the app's client,
    its base URL rebased like the client's own endpoints."""
    api = api_class(wechat_client(app))
    base = getattr(api_class, "API_BASE_URL", None)
    if isinstance(base, str) and base:
        api.API_BASE_URL = _rebase(base)
    return api
