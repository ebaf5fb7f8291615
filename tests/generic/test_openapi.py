"""The OpenAPI contract is complete: drf-spectacular reads every view of both URL confs (brand host and platform
host) without a warning or an error (`manage.py spectacular --validate --fail-on-warn`), the result is valid
OpenAPI 3, and every operation documents a success response and its errors in the one error shape.

What a view must say for this to pass is in core/openapi.py (request bodies, query parameters and error responses
come from the view's own serializers and base class; the success response is its `extend_schema`).
"""

from __future__ import annotations

import pytest
import yaml
from django.core.management import call_command

from tests.helpers import host_of

URLCONFS = ["ekr.urls_tenants", "ekr.urls_public"]
METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schemas(tmp_path_factory) -> dict[str, dict]:
    """Each URL conf's schema, generated once: `call_command` raises on any warning, error or invalid schema."""
    out = {}
    for urlconf in URLCONFS:
        path = tmp_path_factory.mktemp("schema") / f"{urlconf}.yml"
        call_command("spectacular", "--validate", "--fail-on-warn", "--urlconf", urlconf, "--file", str(path))
        out[urlconf] = yaml.safe_load(path.read_text())
    return out


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


@pytest.mark.parametrize("urlconf", URLCONFS)
def test_schema_generates_without_warnings_and_validates(schemas, urlconf):
    # given every view of the URL conf / when the schema is generated with warnings as errors / then it is
    # written (call_command raises on any warning, error or validation failure)
    schema = schemas[urlconf]
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["schemas"]["Error"]["properties"]["error"]["$ref"] == "#/components/schemas/ErrorDetail"
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert sorted(detail["required"]) == ["code", "fields", "message"]


@pytest.mark.parametrize("urlconf", URLCONFS)
def test_every_operation_documents_success_and_errors(schemas, urlconf):
    schema = schemas[urlconf]
    operations = list(_operations(schema))
    assert len(operations) > (100 if urlconf == "ekr.urls_tenants" else 5)
    problems = []
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        codes = set(op["responses"])
        success = sorted(c for c in codes if c.startswith("2"))
        if not success:
            problems.append(f"{where}: no 2xx response")
        for code in success:
            if code != "204" and "content" not in op["responses"][code]:
                problems.append(f"{where}: {code} has no body")
        if not {"404", "503"} <= codes:
            problems.append(f"{where}: 404/503 not documented")
        if method in ("post", "put", "patch") and "400" not in codes:
            problems.append(f"{where}: 400 not documented")
        if op.get("security") != [{}] and op.get("security") and not {"401", "403"} <= codes:
            problems.append(f"{where}: authenticated but 401/403 not documented")
        for code, response in op["responses"].items():
            if code[0] in "45" and not (path == "/api/v1/health" and code == "503"):
                ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
                if ref != ERROR_REF:
                    problems.append(f"{where}: {code} is not the error shape")
    assert not problems, "\n".join(problems)


def test_each_host_serves_its_own_schema(client_for, brand_a):
    # given the platform host and a brand host / when each serves /api/schema/ / then each documents its own API
    platform = client_for(None).get("/api/schema/", HTTP_ACCEPT="application/json")
    brand = client_for(brand_a).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert platform.status_code == 200 and brand.status_code == 200, (platform.content[:200], host_of(brand_a))
    platform_paths, brand_paths = set(platform.json()["paths"]), set(brand.json()["paths"])
    assert "/api/v1/ops/brands" in platform_paths and "/api/v1/mp/me" not in platform_paths
    assert "/api/v1/mp/me" in brand_paths and "/api/v1/ops/brands" not in brand_paths


def test_a_list_answered_by_a_post_is_a_plain_array_not_a_page(schemas):
    # found by the fuzzer: POST /api/v1/market/offers/batch answers a list, the schema said a cursor page
    schema = schemas["ekr.urls_tenants"]
    created = schema["paths"]["/api/v1/market/offers/batch"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["type"] == "array"
    listed = schema["paths"]["/api/v1/market/offers"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/PaginatedOwnOfferList"
