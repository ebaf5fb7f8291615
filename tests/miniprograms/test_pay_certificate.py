"""WeChat Pay refunds need the merchant's client certificate: stored encrypted, handed to wechatpy as files."""

import os
import stat

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from miniprograms.payments.wechatpay_v2 import WeChatPayV2Gateway

CERT = "-----BEGIN CERTIFICATE-----\nMIIB-fake-cert\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIE-fake-key\n-----END PRIVATE KEY-----\n"


def test_the_certificate_is_encrypted_at_rest_and_given_to_wechatpy_as_private_files(world):
    app = world.app
    app.mch_cert_pem, app.mch_cert_key_pem = CERT, KEY
    app.full_clean()
    app.save(update_fields=["mch_cert_pem", "mch_cert_key_pem"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT mch_cert_pem, mch_cert_key_pem FROM tenants_wechatapp WHERE id = %s", [app.id])
        raw_cert, raw_key = cursor.fetchone()
    assert "BEGIN CERTIFICATE" not in raw_cert and "PRIVATE KEY" not in raw_key

    gateway = WeChatPayV2Gateway(app)

    assert open(gateway.client.mch_cert).read() == CERT
    assert open(gateway.client.mch_key).read() == KEY
    assert stat.S_IMODE(os.stat(gateway.client.mch_key).st_mode) == 0o600


def test_no_certificate_means_no_files(world):
    gateway = WeChatPayV2Gateway(world.app)
    assert gateway.client.mch_cert is None and gateway.client.mch_key is None


def test_a_certificate_without_its_key_is_refused(world):
    app = world.app
    app.mch_cert_pem = CERT
    with pytest.raises(ValidationError):
        app.full_clean()
