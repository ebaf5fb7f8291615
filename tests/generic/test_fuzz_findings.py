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


@pytest.mark.parametrize("page_size", ["1.9", "0", "101", "-3", "²", "abc"])
def test_a_page_size_that_is_not_1_to_100_is_a_400(hq, page_size):
    # DRF quietly used the default page size for these (schemathesis: "schema-violating request accepted")
    response = hq.get("/api/v1/staff/tags", {"page_size": page_size})
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and list(error["fields"]) == ["page_size"]


def test_a_page_size_in_range_sizes_the_page(hq, brand_a):
    from django_tenants.utils import schema_context

    from members.models import Tag

    with schema_context(brand_a.schema_name):
        Tag.objects.bulk_create([Tag(name=f"t{i}") for i in range(3)])
    page = hq.get("/api/v1/staff/tags", {"page_size": "2"}).json()
    assert len(page["results"]) == 2 and page["next"]
    assert len(hq.get("/api/v1/staff/tags", {"page_size": "100"}).json()["results"]) == 3


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/console/live/rooms/{room}/coupons", {"template_ids": [1, 752776635230871355392]}, "template_ids"),
        ("/api/v1/console/live/rooms", {"source": "external", "name": "x", "store_id": 2**63}, "store_id"),
    ],
)
def test_an_id_beyond_bigint_is_a_400_naming_the_field(hq, path, body, field):
    # the fuzzer's find: psycopg2 raised TypeError ("Integer exceeds 64-bit range") and the answer was a 500
    room = hq.post(
        "/api/v1/console/live/rooms",
        {
            "source": "external",
            "name": "Big ids",
            "start_at": "2030-01-01T10:00:00+08:00",
            "end_at": "2030-01-01T12:00:00+08:00",
            "external_url": "https://example.com/live",
        },
        format="json",
    )
    assert room.status_code == 201, room.content
    method = hq.put if path.endswith("coupons") else hq.post
    response = method(path.format(room=room.json()["id"]), body, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
