"""One JSON error shape for every client mistake: never HTML, never a 500."""

import json

import pytest


def _assert_error_shape(response, status, code=None):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def api(brand_a, client_for):
    return client_for(brand_a)


def test_unknown_path_is_a_json_404(api):
    _assert_error_shape(api.get("/api/v1/no-such-thing"), 404, "not_found")


def test_unknown_path_on_the_platform_is_a_json_404(db, client_for):
    _assert_error_shape(client_for(None).get("/nowhere"), 404, "not_found")


def test_wrong_method_is_a_json_405(api):
    _assert_error_shape(api.delete("/api/v1/mp/session"), 405, "method_not_allowed")


def test_malformed_json_is_a_400(api):
    response = api.post("/api/v1/mp/session", data=b"{not json", content_type="application/json")
    _assert_error_shape(response, 400, "malformed_request")


def test_wrong_content_type_is_a_415(api):
    response = api.post("/api/v1/mp/session", data="appid=x&code=y", content_type="application/x-www-form-urlencoded")
    _assert_error_shape(response, 415, "unsupported_media_type")


def test_body_over_one_megabyte_is_a_413(api):
    big = json.dumps({"appid": "x", "code": "y" * (1024 * 1024 + 10)})
    _assert_error_shape(
        api.post("/api/v1/mp/session", data=big, content_type="application/json"), 413, "payload_too_large"
    )


def test_missing_fields_are_named(api):
    error = _assert_error_shape(api.post("/api/v1/mp/session", data={}, format="json"), 400, "validation_error")
    assert set(error["fields"]) == {"appid", "code"}


def test_staff_endpoint_without_credentials_is_a_json_error(db, client_for):
    _assert_error_shape(client_for(None).get("/api/v1/ops/brands"), 401, "not_authenticated")  # with WWW-Authenticate
