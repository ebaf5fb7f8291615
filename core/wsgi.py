"""The WSGI application: Django's handler, with a short middleware chain for paths called machine to machine.

WeChat's callbacks (`/wechat/...`) come from WeChat's servers: no browser, so no session, cookie, login, CSRF token
(their views are exempt), frame, static file, htmx or language choice. Through the full chain (settings.MIDDLEWARE)
each of them paid for those layers anyway, about 70 µs of CPU: a fifth of a callback's own work
(bench/callbacks.py). A path under settings.EKR_LEAN_PATH_PREFIXES is served by the same Django handler with
settings.EKR_LEAN_MIDDLEWARE only (request id, brand routing by host with the suspended-brand refusal and the
search_path, the body size limit, the security middleware's HTTPS redirect and headers), in the default language
(settings.LANGUAGE_CODE: WeChat sends no Accept-Language). Every other path is served exactly as before.

Only the `wechat/` include of the URL confs matches these paths, so the short chain never serves another view.

API calls that authenticate by a token header alone (the mini-programs' member tokens, staff API tokens: an
`Authorization` header, no cookie at all) under settings.EKR_TOKEN_API_PATH_PREFIXES are served with
settings.EKR_TOKEN_API_MIDDLEWARE: the full chain without what only a cookie can feed (sessions, CSRF, Django's
login middleware, messages) and without what only a browser asks for (static files, htmx). With no cookie there is
no session, so no session login and nothing for CSRF to protect; the views authenticate the token themselves.
Language (Accept-Language), the common middleware, frame and lockout answers stay. A request carrying any cookie,
or no Authorization header, takes the full chain as before, so the console's session calls are unchanged.

The test client dispatches the same way (tests/helpers.BrandClient), so the tests run the chain production runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, MiddlewareNotUsed
from django.core.handlers.exception import convert_exception_to_response
from django.core.handlers.wsgi import WSGIHandler
from django.utils import translation
from django.utils.module_loading import import_string

CALLBACK, TOKEN_API, FULL = "callback", "token_api", "full"


def lean_path(path: str) -> bool:
    """Whether `path` (PATH_INFO) is served by the callbacks' short chain."""
    return path.startswith(tuple(settings.EKR_LEAN_PATH_PREFIXES))


def chain_for(environ: dict[str, Any]) -> str:
    """Which middleware chain serves this WSGI request: CALLBACK, TOKEN_API or FULL (see the module's docstring)."""
    path = environ.get("PATH_INFO", "")
    if lean_path(path):
        return CALLBACK
    if (
        environ.get("HTTP_AUTHORIZATION")
        and not environ.get("HTTP_COOKIE")
        and path.startswith(tuple(settings.EKR_TOKEN_API_PATH_PREFIXES))
    ):
        return TOKEN_API
    return FULL


class ShortChainMixin:
    """For a BaseHandler subclass: the middleware chain of the setting named `middleware_setting` instead of
    settings.MIDDLEWARE (synchronous; built as BaseHandler.load_middleware builds it)."""

    middleware_setting = "EKR_LEAN_MIDDLEWARE"

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("the short middleware chains are synchronous")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for middleware_path in reversed(getattr(settings, self.middleware_setting)):
            try:
                instance = import_string(middleware_path)(handler)
            except MiddlewareNotUsed:
                continue
            if hasattr(instance, "process_view"):
                self._view_middleware.insert(0, instance.process_view)
            if hasattr(instance, "process_template_response"):
                self._template_response_middleware.append(instance.process_template_response)
            if hasattr(instance, "process_exception"):
                self._exception_middleware.append(instance.process_exception)
            handler = convert_exception_to_response(instance)
        self._middleware_chain = handler


class LeanChainMixin(ShortChainMixin):
    """The callbacks' chain (settings.EKR_LEAN_MIDDLEWARE), in the default language."""

    def get_response(self, request):
        translation.activate(settings.LANGUAGE_CODE)  # a thread's last request may have chosen another
        return super().get_response(request)


class TokenApiChainMixin(ShortChainMixin):
    """The chain of API calls authenticated by a token header alone (settings.EKR_TOKEN_API_MIDDLEWARE)."""

    middleware_setting = "EKR_TOKEN_API_MIDDLEWARE"


class LeanWSGIHandler(LeanChainMixin, WSGIHandler):
    pass


class TokenApiWSGIHandler(TokenApiChainMixin, WSGIHandler):
    pass


class PathDispatch:
    """The WSGI callable: each request to the handler of its chain (chain_for)."""

    def __init__(self, handlers: dict[str, Callable[..., Iterable[bytes]]]):
        self.handlers = handlers

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        return self.handlers[chain_for(environ)](environ, start_response)


def get_wsgi_application() -> PathDispatch:
    import django

    django.setup(set_prefix=False)
    return PathDispatch({FULL: WSGIHandler(), CALLBACK: LeanWSGIHandler(), TOKEN_API: TokenApiWSGIHandler()})
