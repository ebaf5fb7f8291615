from __future__ import annotations

import pytest

from tests.callbacks.handlers import effect_table_create
from tests.callbacks.wechat import WeChatSender


def sender_for(brand) -> WeChatSender:
    app = brand.wechat_apps.first()
    return WeChatSender(app.appid, app.token, app.aes_key)


@pytest.fixture
def sender_a(brand_a):
    return sender_for(brand_a)


@pytest.fixture
def plain_a(brand_a):
    """A second app of brand A without EncodingAESKey: the only kind that accepts plaintext callbacks."""
    from tenants.models import WeChatApp
    from tenants.services import wechat_app_add

    app = wechat_app_add(
        brand=brand_a, appid="wxalphaplain000001", secret="s", token="plaintoken", kind=WeChatApp.Kind.OFFICIAL_ACCOUNT
    )
    return WeChatSender(app.appid, app.token, "")


@pytest.fixture
def sender_b(brand_b):
    return sender_for(brand_b)


@pytest.fixture
def effect_tables(brand_a, brand_b):
    """cb_test_effect in alpha and beta, inside the test's transaction (gone after the test)."""
    for brand in (brand_a, brand_b):
        effect_table_create(brand.schema_name)


def post_xml(client, path: str, body: str | bytes):
    return client.post(path, data=body, content_type="text/xml")
