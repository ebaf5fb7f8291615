"""WeChat Pay v2 notifications: the merchant key's signature with the configured sign type, WeChat Pay's XML."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from callbacks import registry
from callbacks.models import CallbackEvent
from tests.callbacks.conftest import post_xml
from tests.callbacks.wechat import pay_xml

MCH_ID, MCH_KEY = "1900000109", "a" * 32
SUCCESS = b"<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>"


@pytest.fixture
def pay_handler():
    # The real handler, registered by the shops app (never swapped out: the end-to-end path is
    # tests/miniprograms/test_pay_end_to_end.py); without it notifications would be stored `ignored`.
    from miniprograms.callback_handlers import pay_notified

    assert registry.handler_for("pay.notify") is pay_notified
    yield


def pay_app(brand, sign_type="MD5", suffix="1"):
    from tenants.services import wechat_app_add

    return wechat_app_add(
        brand=brand,
        appid=f"wx{brand.slug}pay00000{suffix}",
        secret="s",
        token="t",
        aes_key="k" * 43,
        mch_id=MCH_ID,
        mch_key=MCH_KEY,
        pay_sign_type=sign_type,
    )


def notify(client, app, **kwargs):
    body = pay_xml(appid=app.appid, mch_id=app.mch_id, key=kwargs.pop("key", MCH_KEY), **kwargs)
    return post_xml(client, f"/wechat/pay/notify/{app.appid}/", body)


@pytest.mark.parametrize("sign_type", ["MD5", "HMAC-SHA256"])
def test_a_signed_notification_is_stored_once_and_answered_success(sign_type, brand_a, client_for, pay_handler):
    app = pay_app(brand_a, sign_type)
    for _ in range(2):  # WeChat Pay redelivers the same notification
        response = notify(client_for(brand_a), app, sign_type=sign_type, out_trade_no="O-1", total_fee=1234)
        assert response.status_code == 200
        assert response.content == SUCCESS
    event = CallbackEvent.objects.get(appid=app.appid)
    assert (event.kind, event.source, event.status) == ("pay.notify", "pay", "received")
    assert event.dedup_key == "pay:O-1:4200000001"
    assert event.payload["total_fee"] == "1234"  # the orders handler compares it with the order's amount


def test_platform_host_accepts_pay_notifications(brand_a, client_for, pay_handler):
    app = pay_app(brand_a)
    assert notify(client_for(None), app).content == SUCCESS


def rejected_code(response) -> str:
    assert b"<return_code><![CDATA[FAIL]]></return_code>" in response.content
    row = CallbackEvent.objects.get(status="rejected")
    assert row.dedup_key is None
    return row.last_error.split(":")[0]


def test_wrong_key_is_403(brand_a, client_for):
    app = pay_app(brand_a)
    response = notify(client_for(brand_a), app, key="b" * 32)
    assert response.status_code == 403
    assert rejected_code(response) == "bad_signature"


def test_md5_notification_for_an_hmac_merchant_is_refused(brand_a, client_for):
    # a valid MD5 signature (e.g. forged with a leaked v2 key by a downgrade) when the merchant uses HMAC-SHA256
    app = pay_app(brand_a, "HMAC-SHA256")
    response = notify(client_for(brand_a), app, sign_type="MD5")
    assert response.status_code == 403
    assert rejected_code(response) == "bad_sign_type"


def test_hmac_signature_passed_off_as_md5_is_refused(brand_a, client_for):
    app = pay_app(brand_a, "MD5")
    response = notify(client_for(brand_a), app, sign_type="HMAC-SHA256", declare_sign_type=False)
    assert response.status_code == 403
    assert rejected_code(response) == "bad_signature"


def test_notification_of_another_merchant_is_refused(brand_a, client_for):
    app = pay_app(brand_a)
    body = pay_xml(appid=app.appid, mch_id="1999999999", key=MCH_KEY)  # correctly signed, other mch_id
    response = post_xml(client_for(brand_a), f"/wechat/pay/notify/{app.appid}/", body)
    assert response.status_code == 403
    assert rejected_code(response) == "merchant_mismatch"


def test_old_time_end_is_refused(brand_a, client_for):
    app = pay_app(brand_a)
    old = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=3)).strftime("%Y%m%d%H%M%S")
    response = notify(client_for(brand_a), app, time_end=old)
    assert response.status_code == 403
    assert rejected_code(response) == "stale_timestamp"


def test_return_code_fail_is_refused(brand_a, client_for):
    app = pay_app(brand_a)
    body = "<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[x]]></return_msg></xml>"
    response = post_xml(client_for(brand_a), f"/wechat/pay/notify/{app.appid}/", body)
    assert response.status_code == 400
    assert rejected_code(response) == "pay_return_fail"


def test_app_without_merchant_and_unknown_appid_are_404(brand_a, client_for):
    app = brand_a.wechat_apps.first()
    body = pay_xml(appid=app.appid, mch_id=MCH_ID, key=MCH_KEY)
    assert post_xml(client_for(brand_a), f"/wechat/pay/notify/{app.appid}/", body).status_code == 404
    assert post_xml(client_for(brand_a), "/wechat/pay/notify/wxnobody0000001/", body).status_code == 404
    assert CallbackEvent.objects.filter(status="rejected").count() == 2


def test_not_xml_is_400(brand_a, client_for):
    app = pay_app(brand_a)
    response = post_xml(client_for(brand_a), f"/wechat/pay/notify/{app.appid}/", "nope")
    assert response.status_code == 400
    assert rejected_code(response) == "not_xml"


def test_other_brands_pay_app_on_a_brand_host_is_404(brand_a, brand_b, client_for):
    app = pay_app(brand_a)
    response = notify(client_for(brand_b), app)
    assert response.status_code == 404
    assert not CallbackEvent.objects.exclude(status="rejected").exists()
