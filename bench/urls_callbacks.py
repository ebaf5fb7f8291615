"""Brand-host URLs for the bench: the real ones plus three baselines on the same server and middleware.

- /bench/bare/   the essential work of a callback with nothing around it: accepts the body, stores it as one inbox
  row with one SQL statement on the request's connection (autocommit: durable when it returns), answers
  "success". The dedup key is the query's msg_signature (unique per event; a retry is a duplicate, DO NOTHING);
- /bench/empty/   answers "success" and does nothing else (the server's floor, shown for reference);
- /bench/plain/<appid>/   does the work of a safe-mode message callback the plain way, with none of ekr's layers:
  checks msg_signature, decrypts and parses with wechatpy, stores the inbox row with one ORM INSERT.
"""

import contextlib

from django.db import IntegrityError, connection
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import to_text

from callbacks.models import CallbackEvent
from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from tenants.models import WeChatApp

_apps: dict[str, WeChatApp] = {}

BARE_INSERT = (
    "INSERT INTO public.callbacks_callbackevent (brand_id, appid, source, kind, dedup_key, payload, raw, status, "
    "attempts, last_error, received_at) VALUES (%s, %s, 'message', 'bare', %s, '{}', %s, 'ignored', 0, '', now()) "
    "ON CONFLICT (appid, dedup_key) WHERE dedup_key IS NOT NULL DO NOTHING"
)


@csrf_exempt
def bare(request):
    with connection.cursor() as cursor:
        cursor.execute(
            BARE_INSERT,
            [request.tenant.id, "bare", request.GET.get("msg_signature", ""), request.body.decode()],
        )
    return HttpResponse("success", content_type="text/plain; charset=utf-8")


@csrf_exempt
def empty(request):
    return HttpResponse("success", content_type="text/plain; charset=utf-8")


@csrf_exempt
def plain(request, appid):
    import xmltodict

    app = _apps.get(appid)
    if app is None:
        app = _apps[appid] = WeChatApp.objects.select_related("brand").get(appid=appid)
    crypto = WeChatCrypto(app.token, app.aes_key, app.appid)
    q = request.GET
    xml = crypto.decrypt_message(request.body, q["msg_signature"], q["timestamp"], q["nonce"])
    message = xmltodict.parse(to_text(xml))["xml"]
    with contextlib.suppress(IntegrityError):
        CallbackEvent.objects.create(
            brand_id=app.brand_id,
            appid=app.appid,
            source="message",
            kind="plain." + message.get("Event", message.get("MsgType", "")),
            dedup_key=f"plain:{message['FromUserName']}:{message['CreateTime']}",
            payload=dict(message),
            status="ignored",
        )
    return HttpResponse("success", content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("bench/bare/", bare),
    path("bench/empty/", empty),
    path("bench/plain/<str:appid>/", plain),
    *tenant_urlpatterns,
]
