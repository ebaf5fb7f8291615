"""Defect 13: the notify URL comes from the platform's public base URL; without one, payments do not start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.miniprograms.conftest import build_world

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def world(brand_a, fake_wechat):
    return build_world(brand_a, fake_wechat)


def _settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EKR_", "WECHATPAY_"))}
    code = "from django.conf import settings as s; print(repr(s.WECHATPAY_NOTIFY_URL))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return eval(result.stdout)  # a repr of a str


def test_the_notify_url_follows_the_public_base_url():
    prod = dict(
        DJANGO_SETTINGS_MODULE="ekr.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        EKR_FIELD_KEY="y" * 50,
        EKR_BASE_DOMAIN="shop.example.com",
    )
    assert (
        _settings(EKR_PUBLIC_BASE_URL="https://pay.example.com/", **prod)
        == "https://pay.example.com/wechat/pay/notify/{appid}/"
    )
    assert _settings(**prod) == ""  # nobody owns a placeholder host: no URL at all, and payments refuse
    assert "ekr.example" not in _settings(DJANGO_SETTINGS_MODULE="ekr.settings.local", EKR_BASE_DOMAIN="localhost")


def test_the_prepay_sends_the_derived_notify_url(world, client_for, fake_wechat, settings):
    client = client_for(world.brand).as_member(world.tokens[world.alice.pk])
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    ).json()["id"]
    assert client.post(f"/api/v1/mp/orders/{order_id}/pay").status_code == 200
    sent = fake_wechat.calls_to("/pay/unifiedorder")[0][3].decode()
    assert f"{settings.EKR_PUBLIC_BASE_URL}/wechat/pay/notify/{world.app.appid}/" in sent


def test_without_a_public_base_url_payments_do_not_start(world, client_for, fake_wechat, settings):
    settings.WECHATPAY_NOTIFY_URL = ""
    client = client_for(world.brand).as_member(world.tokens[world.alice.pk])
    order_id = client.post(
        "/api/v1/mp/orders",
        {"shop_id": world.shop.pk, "items": [{"sku_id": world.sku.pk, "quantity": 1}]},
        format="json",
    ).json()["id"]
    response = client.post(f"/api/v1/mp/orders/{order_id}/pay")
    assert response.status_code == 503 and response.json()["error"]["code"] == "payment_not_configured"
    assert fake_wechat.calls_to("/pay/unifiedorder") == []
