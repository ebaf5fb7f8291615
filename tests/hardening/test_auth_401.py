"""Defect 14: a wrong login on the staff API is a 401 with WWW-Authenticate, in the error shape (not a 403)."""

import base64


def _basic(client, username, password):
    raw = base64.b64encode(f"{username}:{password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {raw}")
    return client


def test_a_wrong_basic_login_is_401_with_www_authenticate(brand_a, client_for):
    response = _basic(client_for(brand_a), "alpha-hq", "wrong-password-1").get("/api/v1/staff/stores")
    assert response.status_code == 401
    assert response.headers.get("WWW-Authenticate")
    assert response.json()["error"]["code"] == "not_authenticated" or response.json()["error"]["code"]
    assert set(response.json()["error"]) == {"code", "message", "fields"}


def test_no_credentials_at_all_is_401_too(brand_a, client_for):
    response = client_for(brand_a).get("/api/v1/staff/stores")
    assert response.status_code == 401 and response.headers.get("WWW-Authenticate")
