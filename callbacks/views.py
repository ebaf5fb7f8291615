"""WeChat-facing endpoints. Plain Django views: verify, store, answer in WeChat's format. No processing here.

Mounted on the platform host and on every brand host; on a brand host an appid of another brand is a 404.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from callbacks import verification
from callbacks.models import CallbackEvent
from callbacks.replay import nonce_remember
from callbacks.selectors import wechat_app_for_callback
from callbacks.services import callback_receive, callback_reject
from callbacks.verification import CallbackRejected
from core.client_ip import client_ip
from core.errors import json_error
from tenants.models import WeChatApp
from tenants.wechatpay import (
    NotificationRefused,
    ProviderNotConfigured,
    provider_client,
)

PAY_SUCCESS = "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


def _app_for(request: HttpRequest, appid: str) -> WeChatApp:
    app = wechat_app_for_callback(appid)
    if app is None:
        raise CallbackRejected(404, "unknown_appid", "No WeChat app is registered with this appid.")
    host_brand = getattr(request, "tenant", None)
    if connection.schema_name != "public" and host_brand is not None and app.brand_id != host_brand.id:
        raise CallbackRejected(404, "unknown_appid", "No WeChat app with this appid on this host.")
    if not app.brand.is_active:
        raise CallbackRejected(403, "brand_suspended", "This brand is suspended.")
    return app


def _reject(
    request: HttpRequest, appid: str, app: WeChatApp | None, source: str, kind: str, exc: CallbackRejected
) -> CallbackRejected:
    """Keep the refusal (bounded) and return what to answer: the refusal, or 429 once this sender and appid
    have been refused too often this minute."""
    # A 404 keeps no brand: the appid is unknown, or another brand's posted to this host.
    brand = app.brand if app is not None and exc.status != 404 else None
    raw = b"" if exc.code == "body_too_large" else request.body
    kept = callback_reject(
        appid=appid,
        brand=brand,
        source=source,
        kind=kind,
        code=exc.code,
        message=exc.message,
        raw=raw,
        remote_addr=client_ip(request) or None,
    )
    if kept is None:
        return CallbackRejected(429, "too_many_rejections", "Too many refused callbacks; slow down.")
    return exc


def _check_size(request: HttpRequest) -> None:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.EKR_CALLBACK_MAX_BODY_BYTES:
        raise CallbackRejected(
            413, "body_too_large", f"Callbacks are at most {settings.EKR_CALLBACK_MAX_BODY_BYTES} bytes."
        )


@csrf_exempt
def message_callback(request: HttpRequest, appid: str) -> HttpResponse:
    """GET: WeChat's URL check (echo). POST: a message or event, plaintext, compatible or safe (AES) mode."""
    if request.method not in ("GET", "POST"):
        return json_error(405, "method_not_allowed", "GET or POST.")
    app = None
    kind = "server_check" if request.method == "GET" else "unverified"
    now, skew = time.time(), settings.EKR_CALLBACK_MAX_SKEW_SECONDS
    try:
        app = _app_for(request, appid)
        if request.method == "GET":
            echo = verification.verify_server_check(app, request.GET, now=now, max_skew=skew)
            return HttpResponse(echo, content_type="text/plain; charset=utf-8")
        _check_size(request)
        message = verification.verify_message(app, request.GET, request.body, now=now, max_skew=skew)
        if not verification.body_signed(request.GET):  # plaintext: the signature does not cover the body
            nonce_remember(
                app=app,
                timestamp=request.GET.get("timestamp", ""),
                nonce=request.GET.get("nonce", ""),
                body=request.body,
            )
    except CallbackRejected as exc:
        exc = _reject(request, appid, app, CallbackEvent.Source.MESSAGE, kind, exc)
        return json_error(exc.status, exc.code, exc.message)
    callback_receive(
        app=app,
        source=CallbackEvent.Source.MESSAGE,
        kind=verification.message_kind(message),
        dedup_key=verification.message_dedup_key(message),
        payload=message,
        remote_addr=client_ip(request) or None,
    )
    return HttpResponse("success", content_type="text/plain; charset=utf-8")


@csrf_exempt
def pay_notify(request: HttpRequest, appid: str) -> HttpResponse:
    """A WeChat Pay v2 payment notification; answered in WeChat Pay's XML."""
    if request.method != "POST":
        return _pay_answer(405, "FAIL", "POST only")
    app = None
    try:
        app = _app_for(request, appid)
        _check_size(request)
        params = verification.verify_pay_notification(
            app,
            request.body,
            now=time.time(),
            max_age=settings.EKR_CALLBACK_PAY_MAX_AGE_SECONDS,
            max_skew=settings.EKR_CALLBACK_MAX_SKEW_SECONDS,
        )
    except CallbackRejected as exc:
        exc = _reject(request, appid, app, CallbackEvent.Source.PAY, "pay.notify", exc)
        return _pay_answer(exc.status, "FAIL", exc.code)
    callback_receive(
        app=app,
        source=CallbackEvent.Source.PAY,
        kind="pay.notify",
        dedup_key=verification.pay_dedup_key(params),
        payload=params,
        remote_addr=client_ip(request) or None,
    )
    return HttpResponse(PAY_SUCCESS, content_type="text/xml; charset=utf-8")


def _pay_answer(status: int, code: str, message: str) -> HttpResponse:
    body = f"<xml><return_code><![CDATA[{code}]]></return_code><return_msg><![CDATA[{message}]]></return_msg></xml>"
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")


PAY_V3_KINDS = {"TRANSACTION.": "pay.v3.transaction", "REFUND.": "pay.v3.refund"}


@csrf_exempt
def pay_notify_v3(request: HttpRequest, appid: str) -> HttpResponse:
    """A WeChat Pay APIv3 notification (payment or refund) for the platform as service provider: signature,
    timestamp, serial and decryption checked (tenants.wechatpay), then stored once in the inbox and processed by
    the handler of its kind. Answered in v3's format: 204 without a body, or an error status with
    {"code": "FAIL", "message": ...} so that WeChat Pay delivers it again."""
    if request.method != "POST":
        return _v3_answer(405, "method_not_allowed")
    app = None
    kind = "pay.v3.unverified"
    try:
        app = _app_for(request, appid)
        try:
            client = provider_client()
        except ProviderNotConfigured:
            raise CallbackRejected(
                404, "no_service_provider", "No WeChat Pay service provider is configured."
            ) from None
        try:
            notification = verification.verify_pay_v3_notification(
                client,
                request.headers,
                request.body,
                appid=app.appid,
                now=time.time(),
                max_skew=settings.EKR_CALLBACK_MAX_SKEW_SECONDS,
            )
        except NotificationRefused as exc:
            raise CallbackRejected(exc.status, exc.code, exc.message) from None
        kind = next((k for prefix, k in PAY_V3_KINDS.items() if notification.event_type.startswith(prefix)), "")
        if not kind:
            raise CallbackRejected(400, "unknown_event_type", f"event_type {notification.event_type[:64]!r}.")
    except CallbackRejected as exc:
        _reject(request, appid, app, CallbackEvent.Source.PAY, kind, exc)
        return _v3_answer(exc.status, exc.code)
    callback_receive(
        app=app,
        source=CallbackEvent.Source.PAY,
        kind=kind,
        dedup_key=verification.pay_v3_dedup_key(notification),
        payload={
            "id": notification.id,
            "event_type": notification.event_type,
            "create_time": notification.create_time,
            "resource": notification.resource,
        },
        remote_addr=request.META.get("REMOTE_ADDR"),
    )
    return HttpResponse(status=204)


def _v3_answer(status: int, message: str) -> HttpResponse:
    return JsonResponse({"code": "FAIL", "message": message}, status=status)
