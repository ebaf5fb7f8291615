"""Brand-host URLs for the bench: the real ones plus two baselines on the same server and middleware.

- /bench/bare/   answers "success" and does nothing else;
- /bench/plain/<appid>/   does the work of a safe-mode message callback the plain way, with none of ekr's layers:
  checks msg_signature, decrypts and parses with wechatpy, stores the inbox row with one ORM INSERT.
"""

import contextlib

from django.db import IntegrityError
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import to_text

from callbacks.models import CallbackEvent
from ekr.urls_tenants import urlpatterns as tenant_urlpatterns
from tenants.models import WeChatApp

_apps: dict[str, WeChatApp] = {}


@csrf_exempt
def bare(request):
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


urlpatterns = [path("bench/bare/", bare), path("bench/plain/<str:appid>/", plain), *tenant_urlpatterns]
