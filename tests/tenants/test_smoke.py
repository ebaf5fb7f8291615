def test_platform_health_answers_on_the_bare_domain(db, client_for):
    response = client_for(None).get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}, "schema": "public"}


def test_brand_health_answers_in_the_brand_schema(brand_a, client_for):
    response = client_for(brand_a).get("/api/v1/health")
    assert response.status_code == 200, response.content
    assert response.json()["schema"] == "alpha"
