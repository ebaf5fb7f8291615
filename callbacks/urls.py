"""WeChat callback URLs, mounted on the platform host and on every brand host. The trailing slash is optional:
an APPEND_SLASH redirect would lose a POST.

These are plain Django views, outside the OpenAPI contract (/api/schema/) on purpose: WeChat calls them with
its own signed XML (messages, pay v2) or JSON (pay v3) and reads answers in its own formats, as WeChat's
documentation defines them; no client of ours codes against them."""

from django.urls import re_path

from callbacks import views

urlpatterns = [
    re_path(r"^callback/(?P<appid>[^/]{1,64})/?$", views.message_callback, name="wechat-callback"),
    re_path(r"^pay/notify/(?P<appid>[^/]{1,64})/?$", views.pay_notify, name="wechat-pay-notify"),
    re_path(r"^pay/v3/notify/(?P<appid>[^/]{1,64})/?$", views.pay_notify_v3, name="wechat-pay-v3-notify"),
]
