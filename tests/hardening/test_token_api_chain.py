"""API calls authenticated by a token header alone (no cookie) are served by ekr's WSGI application with the token
API chain (core/wsgi.py: no sessions, CSRF, login middleware, messages, static files, htmx); with any cookie, or
without the header, by the full chain. Called here as gunicorn calls it, with a WSGI environ."""

from __future__ import annotations

import json

import pytest
from django_tenants.utils import schema_context

from core.wsgi import CALLBACK, FULL, TOKEN_API, chain_for
from members.models import Member, Store
from members.mp_auth import member_token_issue
from tests.callbacks.test_lean_chain import call


@pytest.fixture
def application(committed_db):
    from ekr.wsgi import application

    return application


@pytest.fixture
def member_token(new_brand):
    brand = new_brand("tok")
    app = brand.wechat_apps.first()
    with schema_context(brand.schema_name):
        store = Store.objects.create(code="TC1", name="Token chain store", city="Hangzhou")
        Member.objects.create(openid="o-tc-1", name="链", phone="13800138011", store=store)
    return brand, member_token_issue(schema=brand.schema_name, appid=app.appid, openid="o-tc-1")


def test_a_token_call_without_cookies_answers_as_the_full_chain_does(application, member_token):
    brand, token = member_token
    short = call(application, brand, "GET", "/api/v1/mp/me", authorization=f"Bearer {token}")
    full = call(application, brand, "GET", "/api/v1/mp/me", authorization=f"Bearer {token}", cookie="theme=dark")
    assert short[0] == full[0] == 200
    assert json.loads(short[2]) == json.loads(full[2])
    assert json.loads(short[2])["name"] == "链" and json.loads(short[2])["phone"] == "*******8011"
    for headers in (short[1], full[1]):
        assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Request-Id"] and headers["Content-Language"] == "zh-hans"
    assert "Set-Cookie" not in short[1]


def test_each_call_reaches_the_handler_of_its_chain(application, member_token, monkeypatch):
    brand, token = member_token
    served = []
    for chain in (FULL, TOKEN_API):  # watched, not replaced: each still answers
        handler = application.handlers[chain]
        monkeypatch.setitem(application.handlers, chain, lambda e, s, c=chain, h=handler: served.append(c) or h(e, s))
    for headers in ({"authorization": f"Bearer {token}"}, {"authorization": f"Bearer {token}", "cookie": "a=b"}, {}):
        call(application, brand, "GET", "/api/v1/mp/me", **headers)
    assert served == [TOKEN_API, FULL, FULL]


def test_the_token_chain_keeps_routing_language_and_refusals(application, member_token, new_brand):
    brand, token = member_token
    other = new_brand("tok")
    # another brand's host: the brand routing is in the chain, and B does not know A's member token
    status, _, content = call(application, other, "GET", "/api/v1/mp/me", authorization=f"Bearer {token}")
    assert (status, json.loads(content)["error"]["code"]) == (401, "not_authenticated")
    # an unknown host
    status, _, content = call(
        application, None, "GET", "/api/v1/mp/me", authorization=f"Bearer {token}", host="nobody.example.invalid"
    )
    assert status == 404
    # the caller's language, as in the full chain
    status, headers, content = call(
        application, brand, "GET", "/api/v1/nothing", authorization=f"Bearer {token}", accept_language="en"
    )
    assert (status, json.loads(content)["error"]["message"], headers["Content-Language"]) == (404, "Not found.", "en")
    # a body over the limit: refused unread
    status, _, content = call(
        application, brand, "PATCH", "/api/v1/mp/me", b"x" * (1024 * 1024 + 1), authorization=f"Bearer {token}"
    )
    assert (status, json.loads(content)["error"]["code"]) == (413, "payload_too_large")


@pytest.mark.parametrize(
    ("path", "headers", "chain"),
    [
        ("/api/v1/mp/me", {"HTTP_AUTHORIZATION": "Bearer t"}, TOKEN_API),
        ("/api/v1/staff/members", {"HTTP_AUTHORIZATION": "Token t", "HTTP_COOKIE": ""}, TOKEN_API),
        # any cookie may carry a session: the full chain (CSRF, session login) serves it
        ("/api/v1/mp/me", {"HTTP_AUTHORIZATION": "Bearer t", "HTTP_COOKIE": "sessionid=x"}, FULL),
        ("/api/v1/mp/me", {"HTTP_COOKIE": "sessionid=x"}, FULL),
        ("/api/v1/mp/me", {}, FULL),
        # only API paths: the console and the admin are browser pages
        ("/console/", {"HTTP_AUTHORIZATION": "Bearer t"}, FULL),
        ("/admin/", {"HTTP_AUTHORIZATION": "Bearer t"}, FULL),
        ("/wechat/callback/wx1", {"HTTP_AUTHORIZATION": "Bearer t"}, CALLBACK),
    ],
)
def test_which_chain_serves_a_request(path, headers, chain):
    assert chain_for({"PATH_INFO": path, **headers}) == chain
