from __future__ import annotations

import re
import uuid

from django.conf import settings

from core.errors import json_error
from core.logging import request_id_var

_REQUEST_ID_OK = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Takes X-Request-Id from the caller when it is sane, else makes one; logs and answers carry it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-Id", "")
        request_id = incoming if _REQUEST_ID_OK.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-Id"] = request_id
        return response


class BodySizeMiddleware:
    """Refuses a body over EKR_MAX_BODY_BYTES with the JSON error shape (413) before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(400, "malformed_request", "Content-Length is not a number.")
        if length > settings.EKR_MAX_BODY_BYTES:
            return json_error(413, "payload_too_large", f"Request body is over {settings.EKR_MAX_BODY_BYTES} bytes.")
        return self.get_response(request)
