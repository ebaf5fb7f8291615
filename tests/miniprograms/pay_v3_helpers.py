"""Shared by the WeChat Pay v3 tests: put a test brand on v3 with sub-merchants, post a notification."""

from __future__ import annotations

import uuid

from django_tenants.utils import schema_context

from members.models import Franchisee
from tests.helpers import BrandClient


def switch_to_v3(w, fake, *, brand_sub: str | None = None) -> dict[str, str]:
    """The brand's mini-program pays through APIv3: a default sub-merchant for the brand, one for each of the two
    franchisees (registered at the fake under the service provider, bound to the mini-program)."""
    subs = {
        "brand": brand_sub or "19" + uuid.uuid4().hex[:8].translate(str.maketrans("abcdef", "123456")),
        "f1": "18" + str(uuid.uuid4().int)[:8],
        "f2": "17" + str(uuid.uuid4().int)[:8],
    }
    w.app.pay_api, w.app.sub_mchid = "wxpay_v3", subs["brand"]
    w.app.full_clean()
    w.app.save(update_fields=["pay_api", "sub_mchid"])
    with schema_context(w.schema):
        Franchisee.objects.filter(pk=w.f1.pk).update(wechatpay_sub_mchid=subs["f1"])
        Franchisee.objects.filter(pk=w.f2.pk).update(wechatpay_sub_mchid=subs["f2"])
    for sub in subs.values():
        fake.pay_v3_sub_merchant(sub, w.app.appid)
    return subs


def notify(appid: str, headers: dict, body: bytes, *, brand=None):
    """POST a v3 notification as WeChat Pay does (on the platform host unless a brand is given)."""
    return BrandClient(brand).generic(
        "POST", f"/wechat/pay/v3/notify/{appid}/", body, content_type="application/json", headers=headers
    )
