"""The messages our services raise speak the request's language: Chinese (zh-hans) by default, English on
`Accept-Language: en`, always in the one error shape and with the same stable code (issue 13, "Language")."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from members.mp_auth import member_token_issue
from tests.conftest import BRAND_PASSWORD
from tests.rights_market.factories import listing_make, member_make, offer_make

pytestmark = pytest.mark.django_db


def hq(client_for, brand):
    return client_for(brand).as_staff(f"{brand.slug}-hq", BRAND_PASSWORD)


def member(client_for, brand, *, points: int = 0):
    openid = f"o-{uuid.uuid4().hex[:16]}"
    member_make(brand, points=points, openid=openid)
    connection.set_schema_to_public()
    token = member_token_issue(schema=brand.schema_name, appid=f"wx{brand.slug}000000000001", openid=openid)
    return client_for(brand).as_member(token)


def in_both_languages(send) -> tuple:
    """(status, body) of the same request sent with no Accept-Language, then with Accept-Language: en."""
    chinese, english = send(), send(HTTP_ACCEPT_LANGUAGE="en")
    return (chinese.status_code, chinese.json()), (english.status_code, english.json())


def error(code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def test_a_members_error_with_its_value_in_the_message(brand_a, client_for):
    client = hq(client_for, brand_a)
    assert client.post("/api/v1/staff/tags", {"name": "VIP"}, format="json").status_code == 201

    chinese, english = in_both_languages(
        lambda **extra: client.post("/api/v1/staff/tags", {"name": "VIP"}, format="json", **extra)
    )

    assert chinese == (409, error("tag_exists", "标签“VIP”已存在。", {"name": ["taken"]}))
    assert english == (409, error("tag_exists", "Tag 'VIP' exists.", {"name": ["taken"]}))


def test_a_points_error(brand_a, client_for):
    client = hq(client_for, brand_a)

    chinese, english = in_both_languages(
        lambda **extra: client.get("/api/v1/staff/points/entries.csv?start=2026-11-30&end=2026-11-01", **extra)
    )

    assert chinese == (400, error("invalid_period", "结束时间早于开始时间。", {"end": ["before start"]}))
    assert english == (400, error("invalid_period", "The period ends before it starts.", {"end": ["before start"]}))


def test_a_miniprograms_error(brand_a, client_for):
    client = member(client_for, brand_a)
    order = {"shop_id": 999999, "items": [{"sku_id": 1, "quantity": 1}]}

    chinese, english = in_both_languages(
        lambda **extra: client.post("/api/v1/mp/orders", order, format="json", **extra)
    )

    assert chinese == (404, error("not_found", "没有这个店铺。"))
    assert english == (404, error("not_found", "No such shop."))


def test_a_rights_market_error_with_two_values_in_the_message(brand_a, brand_b, client_for):
    listing = listing_make(brand_b, offer_make(brand_a), points_price=100)
    client = member(client_for, brand_b, points=99)

    chinese, english = in_both_languages(
        lambda **extra: client.post(
            "/api/v1/market/mp/exchanges", {"listing_id": listing.pk, "request_key": "k"}, format="json", **extra
        )
    )

    fields = {"points": ["needs 100, balance 99"]}
    assert chinese == (409, error("insufficient_points", "兑换需要 100 积分，您当前有 99 积分。", fields))  # noqa: RUF001
    assert english == (409, error("insufficient_points", "This needs 100 points; you have 99.", fields))


def test_an_unknown_language_falls_back_to_chinese(brand_a, client_for):
    client = hq(client_for, brand_a)
    response = client.get("/api/v1/staff/points/entries.csv?start=2026-11-30&end=2026-11-01", HTTP_ACCEPT_LANGUAGE="fr")
    assert response.json()["error"]["message"] == "结束时间早于开始时间。"
