"""Routing by host: brands, the platform, unknown hosts and suspended brands."""

from tenants.models import Brand
from tenants.services import brand_resume, brand_suspend


def test_unknown_host_is_a_json_404(db, client_for):
    response = client_for(None).get("/api/v1/health", HTTP_HOST="nobody.localhost")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_host"


def test_suspended_brand_answers_json_403_on_the_api_and_a_page_in_the_browser(brand_a, client_for):
    brand_suspend(brand=brand_a)
    client = client_for(brand_a)

    api = client.get("/api/v1/health")
    page = client.get("/admin/login/")

    assert api.status_code == 403
    assert api.json()["error"]["code"] == "brand_suspended"
    assert page.status_code == 403
    assert page["Content-Type"].startswith("text/html")
    assert b"suspended" in page.content


def test_resumed_brand_is_served_again(brand_a, client_for):
    brand_suspend(brand=brand_a)
    brand_resume(brand=Brand.objects.get(pk=brand_a.pk))
    assert client_for(brand_a).get("/api/v1/health").status_code == 200


def test_platform_cannot_be_suspended(db):
    import pytest

    from core.errors import ApplicationError

    with pytest.raises(ApplicationError):
        brand_suspend(brand=Brand.objects.get(schema_name="public"))


def test_every_response_carries_a_request_id(brand_a, client_for):
    response = client_for(brand_a).get("/api/v1/health", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-Id"] == "abc-123"
    generated = client_for(brand_a).get("/api/v1/health", HTTP_X_REQUEST_ID="bad id with spaces")
    assert len(generated["X-Request-Id"]) == 32


def test_host_lookup_is_cached_per_process(brand_a, settings, django_assert_num_queries):
    from tenants.routing import brand_for_host, tenant_cache_clear

    settings.EKR_TENANT_CACHE_SECONDS = 60
    tenant_cache_clear()
    with django_assert_num_queries(1):
        for _ in range(5):
            assert brand_for_host("alpha.localhost").pk == brand_a.pk
    tenant_cache_clear()
