"""The platform's WeChat Pay service provider in the ops admin: secrets go in, never come out; stored encrypted."""

from __future__ import annotations

import pytest
from django.db import connection

from tenants.models import WeChatPayProvider
from tests.wechatpay_v3 import SP_APPID, SP_MCHID

pytestmark = pytest.mark.django_db


def ops_client(client_for):
    from django.contrib.auth.models import User

    User.objects.create_superuser("ops-pay", password="ops-password-1", email="")
    client = client_for(None)
    response = client.post("/admin/login/", {"username": "ops-pay", "password": "ops-password-1", "next": "/admin/"})
    assert response.status_code == 302
    return client


def test_provider_secrets_are_write_only_and_encrypted_at_rest(client_for, wechatpay_v3_keys):
    keys = wechatpay_v3_keys
    WeChatPayProvider.objects.all().delete()
    client = ops_client(client_for)
    form = {
        "name": "ekr",
        "sp_mchid": SP_MCHID,
        "sp_appid": SP_APPID,
        "merchant_serial_no": keys.merchant_serial,
        "merchant_private_key": keys.merchant_pem,
        "apiv3_key": keys.apiv3_key,
        "wechatpay_public_key_id": keys.public_key_id,
        "wechatpay_public_key": keys.platform_public_pem,
        "active": "on",
        "certificates-TOTAL_FORMS": "0",
        "certificates-INITIAL_FORMS": "0",
    }

    created = client.post("/admin/tenants/wechatpayprovider/add/", form)

    assert created.status_code == 302, created.content[:2000]
    provider = WeChatPayProvider.objects.get(sp_mchid=SP_MCHID)
    change = client.get(f"/admin/tenants/wechatpayprovider/{provider.pk}/change/")
    assert change.status_code == 200
    body = change.content.decode()
    assert keys.apiv3_key not in body and "PRIVATE KEY" not in body and "Stored (not shown)" in body
    # saving again with the secrets left blank keeps them
    saved = client.post(
        f"/admin/tenants/wechatpayprovider/{provider.pk}/change/",
        dict(form, merchant_private_key="", apiv3_key="", name="ekr 2"),
    )
    assert saved.status_code == 302
    provider.refresh_from_db()
    assert (provider.name, provider.apiv3_key, provider.merchant_private_key.strip()) == (
        "ekr 2",
        keys.apiv3_key,
        keys.merchant_pem.strip(),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT apiv3_key, merchant_private_key FROM tenants_wechatpayprovider WHERE id = %s", [provider.pk]
        )
        stored = cursor.fetchone()
    assert keys.apiv3_key not in stored[0] and "PRIVATE KEY" not in stored[1]


def test_a_bad_apiv3_key_or_private_key_is_refused(wechatpay_v3_keys):
    from django.core.exceptions import ValidationError

    provider = WeChatPayProvider(
        sp_mchid="1230000999",
        sp_appid=SP_APPID,
        merchant_private_key="not a key",
        merchant_serial_no="AB",
        apiv3_key="short",
    )
    with pytest.raises(ValidationError) as error:
        provider.full_clean()
    assert {"apiv3_key"} <= set(error.value.message_dict)
    provider.apiv3_key = "k" * 32
    with pytest.raises(ValidationError) as error:
        provider.full_clean()
    assert set(error.value.message_dict) == {"merchant_private_key"}
