"""ekr's OpenAPI contract, written once (drf-spectacular; imported in CoreConfig.ready()).

What every view gets without saying it (`EkrAutoSchema`, the DEFAULT_SCHEMA_CLASS):
- its request body from its own `InputSerializer` (POST, PUT) or `PatchSerializer` (PATCH), and its query
  parameters from its `FilterSerializer` (GET), unless `extend_schema(request=..., parameters=...)` says otherwise;
- its error responses, all in the one shape of core.errors (`Error` below): 401 and 403 unless the view is
  public, 400 where it reads a body or query parameters (a page size too), 409 and 413 where it writes, 404 and 503 everywhere
  (an unknown host, an id outside the caller's scope; PostgreSQL or Redis unreachable);
- cursor-page wrapping of a list response (`extend_schema(responses=Out(many=True))` on a view answering with
  `self.paginated(...)`), with its `cursor` and `page_size` parameters.

What each view says itself, with `extend_schema`: its success response (`responses=Out` or `{201: Out}`), and
any error status beyond the defaults (`{429: ERROR}`, `{502: ERROR}`). A view whose response is not declared
makes schema generation fail (tests/generic/test_openapi.py).
"""

from __future__ import annotations

import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable string a client can switch on, e.g. `validation_error`.")
    message = serializers.CharField(help_text="For people, in the request's language (zh-hans by default).")
    fields = serializers.DictField(
        child=serializers.JSONField(),
        help_text="Per-field messages for a validation error (lists, or nested objects for nested input); "
        "empty otherwise.",
    )


class ErrorSerializer(serializers.Serializer):
    """Every 4xx and 5xx answer of the API (core.errors.error_body)."""

    error = ErrorDetailSerializer()

    class Meta:
        ref_name = "Error"


def error(description: str) -> OpenApiResponse:
    """An error response in the one shape, for `extend_schema(responses={429: error("...")})`."""
    return OpenApiResponse(ErrorSerializer, description=description)


ERROR = error("An error in the one shape; `error.code` says which.")

_DEFAULT_ERRORS = {
    "400": "Invalid input (`validation_error`, `malformed_request`) or a business rule refused it.",
    "401": "No or an invalid credential (`not_authenticated`).",
    "403": "The caller may not do this here (`permission_denied`), or the brand is suspended.",
    "404": "Unknown host, or an id that does not exist in the caller's scope (`not_found`).",
    "409": "The object is not in a state that allows this (`conflict` and friends).",
    "413": "The request body is too large.",
    "503": "PostgreSQL or Redis is unreachable (`service_unavailable`, with Retry-After); nothing was done.",
}
_WRITES = ("POST", "PUT", "PATCH", "DELETE")


class EkrAutoSchema(AutoSchema):
    def _view_attr(self, name: str):
        return getattr(type(self.view), name, None)

    def get_request_serializer(self):
        if self.method in ("POST", "PUT"):
            return self._view_attr("InputSerializer")
        if self.method == "PATCH":
            return self._view_attr("PatchSerializer") or self._view_attr("InputSerializer")
        return None

    def get_override_parameters(self):
        filters = self._view_attr("FilterSerializer")
        return [filters] if filters is not None and self.method == "GET" else []

    def _is_public(self) -> bool:
        return all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _error_codes(self) -> list[str]:
        codes = ["404", "503"]
        if not self._is_public():
            codes += ["401", "403"]
        if self.method in _WRITES:
            codes += ["400", "409", "413"]
        elif self.get_override_parameters() or self._get_pagination_parameters():  # query parameters it checks
            codes.append("400")
        return sorted(codes)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._error_codes():
            if code not in responses:
                responses[code] = self._get_response_for_code(error(_DEFAULT_ERRORS[code]), code, direction=direction)
        return dict(sorted(responses.items()))

    def _get_paginator(self):
        # Only GET lists are cursor pages; a list a POST answers with (a batch just made) is a plain array.
        return super()._get_paginator() if self.method == "GET" else None

    def get_tags(self) -> list[str]:
        # /api/v1/<audience>/...: mp, staff, console, guide, pos, market, ops, auth, health
        tokens = [t for t in self._tokenize_path() if t != "v1"]
        return tokens[:1]

    def get_serializer_name(self, serializer, direction) -> str:
        # A view's own nested serializers are named after the view: MemberRegisterApi.InputSerializer is
        # "MemberRegisterInput", not one of twenty components called "Input".
        parts = type(serializer).__qualname__.split(".")
        if len(parts) == 1:
            return parts[0]
        return "".join(p.removesuffix("Api").removesuffix("Serializer") for p in parts)

    def get_operation_id(self) -> str:
        # Path parameters are part of the id, so /rooms (list) and /rooms/{room_id} (retrieve) never collide.
        path = re.sub(self.path_prefix, "", self.path, flags=re.IGNORECASE)
        tokens = [t.strip("{}").replace("-", "_") for t in path.strip("/").split("/") if t]
        if self.method == "GET" and self._is_list_view():
            action = "list"
        else:
            action = self.method_mapping[self.method.lower()]
        return "_".join([*tokens, action]) or "root"


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.tokens.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token ekr_<prefix>_<secret>`, from POST /api/v1/auth/tokens.",
        }
