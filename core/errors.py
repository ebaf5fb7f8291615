"""One application error type and one error shape for every 4xx and 5xx:

    {"error": {"code": "...", "message": "...", "fields": {...}}}

Codes are stable strings a mini-program can switch on. Messages are for people: services raise them marked with
gettext_lazy, values as %-style named placeholders in `params`, and they are rendered (translated, then filled in)
when read, in the language of the request (zh-hans by default, English on Accept-Language: en).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_default_handler

logger = logging.getLogger(__name__)


class ApplicationError(Exception):
    """A rule of the business was broken. Raised by services; the API turns it into a 4xx."""

    code = "invalid"
    status_code = 400

    def __init__(
        self,
        message: Any,
        *,
        code: str | None = None,
        status_code: int | None = None,
        fields: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.raw_message = message
        self.params = params or {}
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.fields = fields or {}

    @property
    def message(self) -> str:
        """The message in the active language, its placeholders filled in (a lazy string is rendered here)."""
        text = str(self.raw_message)
        return text % self.params if self.params else text

    def __str__(self) -> str:
        return self.message


class NotFound(ApplicationError):
    code = "not_found"
    status_code = 404


class Conflict(ApplicationError):
    code = "conflict"
    status_code = 409


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def json_error(status_code: int, code: str, message: str, fields: dict[str, Any] | None = None) -> JsonResponse:
    return JsonResponse(
        error_body(code, message, fields), status=status_code, json_dumps_params={"ensure_ascii": False}
    )


_DRF_CODES = {
    drf_exceptions.ParseError: "malformed_request",
    drf_exceptions.AuthenticationFailed: "not_authenticated",
    drf_exceptions.NotAuthenticated: "not_authenticated",
    drf_exceptions.PermissionDenied: "permission_denied",
    drf_exceptions.NotFound: "not_found",
    drf_exceptions.MethodNotAllowed: "method_not_allowed",
    drf_exceptions.NotAcceptable: "not_acceptable",
    drf_exceptions.UnsupportedMediaType: "unsupported_media_type",
    drf_exceptions.Throttled: "throttled",
    drf_exceptions.ValidationError: "validation_error",
}


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {k: _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def dependency_down(exc: BaseException | None) -> str | None:
    """'database' or 'redis' when `exc` says that dependency cannot be reached (then the answer is a 503)."""
    import redis
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, (OperationalError, InterfaceError)):
        return "database"
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return "redis"
    return None


def _unavailable(dependency: str) -> str:
    return gettext("Temporarily unavailable (%(dependency)s); try again shortly.") % {"dependency": dependency}


def unavailable_response(dependency: str) -> JsonResponse:
    """503 in the error shape with Retry-After: the client may try again soon (nothing was done)."""
    from django.conf import settings

    response = json_error(503, "service_unavailable", _unavailable(dependency))
    response["Retry-After"] = str(settings.EKR_UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF exception handler: every error leaves in the one shape."""
    down = dependency_down(exc)
    if down is not None:
        from django.conf import settings

        logger.error("dependency unreachable in API view: %s (%s)", down, type(exc).__name__)
        return Response(
            error_body("service_unavailable", _unavailable(down)),
            status=503,
            headers={"Retry-After": str(settings.EKR_UNAVAILABLE_RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, DjangoValidationError):
        fields = exc.message_dict if hasattr(exc, "error_dict") else {}
        message = "; ".join(exc.messages)
        return Response(error_body("validation_error", message, _flatten(fields)), status=400)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    response = drf_default_handler(exc, context)
    if response is None:
        logger.exception("unhandled error in API view", exc_info=exc)
        return Response(error_body("server_error", gettext("Internal server error.")), status=500)

    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = exc.detail
        if isinstance(detail, dict):
            fields = _flatten(detail)
            message = gettext("Invalid input.")
        else:
            fields = {"non_field_errors": _flatten(detail)}
            message = "; ".join(_flatten(detail)) if isinstance(detail, list) else str(detail)
        response.data = error_body(code, message, fields)
    else:
        detail = getattr(exc, "detail", str(exc))
        response.data = error_body(code, str(detail))
    return response
