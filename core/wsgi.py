"""The WSGI application: Django's handler, with a short middleware chain for paths called machine to machine.

WeChat's callbacks (`/wechat/...`) come from WeChat's servers: no browser, so no session, cookie, login, CSRF token
(their views are exempt), frame, static file, htmx or language choice. Through the full chain (settings.MIDDLEWARE)
each of them paid for those layers anyway, about 70 µs of CPU: a fifth of a callback's own work
(bench/callbacks.py). A path under settings.EKR_LEAN_PATH_PREFIXES is served by the same Django handler with
settings.EKR_LEAN_MIDDLEWARE only (request id, brand routing by host with the suspended-brand refusal and the
search_path, the body size limit, the security middleware's HTTPS redirect and headers), in the default language
(settings.LANGUAGE_CODE: WeChat sends no Accept-Language). Every other path is served exactly as before.

Only the `wechat/` include of the URL confs matches these paths, so the short chain never serves another view.
The test client dispatches the same way (tests/helpers.BrandClient), so the callback tests run the short chain.
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


def lean_path(path: str) -> bool:
    """Whether `path` (PATH_INFO) is served by the short chain."""
    return path.startswith(tuple(settings.EKR_LEAN_PATH_PREFIXES))


class LeanChainMixin:
    """For a BaseHandler subclass: the middleware chain of settings.EKR_LEAN_MIDDLEWARE instead of
    settings.MIDDLEWARE (synchronous; built as BaseHandler.load_middleware builds it), default language."""

    def load_middleware(self, is_async: bool = False) -> None:
        if is_async:
            raise ImproperlyConfigured("the lean middleware chain is synchronous")
        self._view_middleware = []
        self._template_response_middleware = []
        self._exception_middleware = []
        handler = convert_exception_to_response(self._get_response)
        for middleware_path in reversed(settings.EKR_LEAN_MIDDLEWARE):
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

    def get_response(self, request):
        translation.activate(settings.LANGUAGE_CODE)  # a thread's last request may have chosen another
        return super().get_response(request)


class LeanWSGIHandler(LeanChainMixin, WSGIHandler):
    pass


class PathDispatch:
    """The WSGI callable: the lean handler for lean paths, the full one for everything else."""

    def __init__(self, full: Callable[..., Iterable[bytes]], lean: Callable[..., Iterable[bytes]]):
        self.full, self.lean = full, lean

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        handler = self.lean if lean_path(environ.get("PATH_INFO", "")) else self.full
        return handler(environ, start_response)


def get_wsgi_application() -> PathDispatch:
    import django

    django.setup(set_prefix=False)
    return PathDispatch(WSGIHandler(), LeanWSGIHandler())
