"""Regression tests for what the fuzzer (tests/generic/test_fuzz_api.py) found."""

from __future__ import annotations

import pytest

from tests.conftest import BRAND_PASSWORD

OFFER = {"kind": "coupon", "title": "30 off 100", "face_value_fen": 3000, "total_stock": 50}


@pytest.fixture
def hq(client_for, brand_a):
    return client_for(brand_a).as_staff(f"{brand_a.slug}-hq", BRAND_PASSWORD)


@pytest.mark.parametrize(
    "moment",
    [
        "0242-07-10T03:24:12+08:00",  # came back as "0242-07-10T03:24:12+08:05:43" (Shanghai's local mean time)
        "0001-01-01T00:00:00+14:00",  # cannot even be converted to UTC
        "2100-01-01T00:00:00Z",
    ],
)
def test_an_offer_valid_from_outside_the_business_range_is_a_400(hq, moment):
    response = hq.post("/api/v1/market/offers", {**OFFER, "valid_from": moment}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and list(error["fields"]) == ["valid_from"]


def test_an_offer_valid_from_in_the_range_is_kept_and_shown_in_shanghai_time(hq):
    response = hq.post("/api/v1/market/offers", {**OFFER, "valid_from": "2030-01-01T00:00:00Z"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["valid_from"] == "2030-01-01T08:00:00+08:00"


def test_a_live_room_far_in_the_past_is_a_400(hq):
    response = hq.post(
        "/api/v1/console/live/rooms",
        {
            "source": "external",
            "name": "Old show",
            "start_at": "0242-07-10T03:24:12+08:00",
            "end_at": "2030-01-01T00:00:00Z",
            "external_url": "https://example.com/live",
        },
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "start_at" in response.json()["error"]["fields"]
