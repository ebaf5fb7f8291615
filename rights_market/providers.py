"""Third-party providers of virtual goods (video memberships, movie tickets, ride credit).

One interface, `ProviderAdapter`, and one implementation speaking JSON over HTTP:

    POST {base}/codes         {"reference", "sku"}   -> 200 {"reference", "code", "status": "issued"}
    GET  {base}/codes/{ref}                          -> 200 {"reference", "code", "status"} | 404
    POST {base}/codes/{ref}/void                     -> 200 {"reference", "status": "void"} | 404

Every request carries `X-Ekr-Timestamp` and `X-Ekr-Signature` = hex HMAC-SHA256(key, "ts\\nMETHOD\\npath\\nbody");
every answer is signed the same way over "ts\\nstatus\\nbody" and checked in constant time. Issuing is
idempotent on `reference` (the exchange), so a retry after a timeout gets the same code, never a second one.

Errors: `ProviderUnavailable` (timeout, connection, 5xx, bad signature: try again later) and `ProviderRejected`
(4xx: the provider said no; the exchange is undone).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Protocol

import requests

MAX_CLOCK_SKEW_SECONDS = 300


class ProviderError(Exception):
    pass


class ProviderUnavailable(ProviderError):
    """Try again later: the code may or may not have been issued."""


class ProviderRejected(ProviderError):
    """The provider refused (out of stock, unknown sku): nothing was issued."""


@dataclass(frozen=True)
class ProviderCode:
    reference: str
    code: str
    status: str  # issued | void | unknown


class ProviderAdapter(Protocol):
    def issue_code(self, *, reference: str, sku: str) -> ProviderCode: ...

    def check_status(self, *, reference: str) -> ProviderCode: ...

    def void(self, *, reference: str) -> ProviderCode: ...


def sign(key: str, *parts: str) -> str:
    return hmac.new(key.encode(), "\n".join(parts).encode(), hashlib.sha256).hexdigest()


class JsonHttpProvider:
    """ProviderAdapter over the JSON protocol above, with a timeout on every call."""

    def __init__(self, *, base_url: str, key: str, timeout: float = 5.0, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.session = session or requests.Session()

    def issue_code(self, *, reference: str, sku: str) -> ProviderCode:
        data = self._call("POST", "/codes", {"reference": reference, "sku": sku})
        return self._code(data, reference)

    def check_status(self, *, reference: str) -> ProviderCode:
        try:
            data = self._call("GET", f"/codes/{reference}", None)
        except ProviderRejected:
            return ProviderCode(reference=reference, code="", status="unknown")
        return self._code(data, reference)

    def void(self, *, reference: str) -> ProviderCode:
        try:
            data = self._call("POST", f"/codes/{reference}/void", {})
        except ProviderRejected:  # never issued: nothing to void
            return ProviderCode(reference=reference, code="", status="unknown")
        return self._code(data, reference)

    # --- transport -----------------------------------------------------------------------------------------

    @staticmethod
    def _code(data: dict, reference: str) -> ProviderCode:
        if data.get("reference") != reference:
            raise ProviderUnavailable("provider answered for another reference")
        return ProviderCode(reference=reference, code=str(data.get("code") or ""), status=str(data.get("status")))

    def _call(self, method: str, path: str, payload: dict | None) -> dict:
        body = "" if payload is None else json.dumps(payload, separators=(",", ":"), sort_keys=True)
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Ekr-Timestamp": ts,
            "X-Ekr-Signature": sign(self.key, ts, method, path, body),
        }
        try:
            response = self.session.request(
                method, self.base_url + path, data=body.encode() or None, headers=headers, timeout=self.timeout
            )
        except requests.RequestException as exc:
            raise ProviderUnavailable(f"{type(exc).__name__}") from exc
        self._verify(response)
        if response.status_code >= 500:
            raise ProviderUnavailable(f"provider answered {response.status_code}")
        if response.status_code >= 400:
            raise ProviderRejected(f"provider refused ({response.status_code}): {response.text[:120]}")
        try:
            return response.json()
        except ValueError as exc:
            raise ProviderUnavailable("provider answered with something that is not JSON") from exc

    def _verify(self, response: requests.Response) -> None:
        ts = response.headers.get("X-Ekr-Timestamp", "")
        given = response.headers.get("X-Ekr-Signature", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > MAX_CLOCK_SKEW_SECONDS:
            raise ProviderUnavailable("provider answer has no fresh timestamp")
        expected = sign(self.key, ts, str(response.status_code), response.text)
        if not hmac.compare_digest(expected, given):
            raise ProviderUnavailable("provider answer signature does not match")


def adapter_for(provider) -> ProviderAdapter:
    """The adapter for a rights_market.models.Provider row."""
    return JsonHttpProvider(base_url=provider.base_url, key=provider.api_key, timeout=provider.timeout_seconds)
