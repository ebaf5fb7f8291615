"""WeChat's callback paths are served by ekr's WSGI application (ekr.wsgi) with the short middleware chain
(core/wsgi.py); every other path with the full one. Called here as gunicorn calls it, with a WSGI environ."""

from __future__ import annotations

import io
import json
import sys
import threading

import pytest
from django.db import connection
from django.utils import translation

from callbacks.models import CallbackEvent
from tests.callbacks.conftest import sender_for
from tests.callbacks.wechat import event_xml
from tests.helpers import host_of

FULL_CHAIN_ONLY = ("X-Frame-Options", "Content-Language", "Vary", "Set-Cookie")


@pytest.fixture
def application(committed_db):
    from ekr.wsgi import application

    return application


def call(application, brand, method: str, path: str, body: bytes = b"", **headers: str):
    """(status, headers, body) of one request through the WSGI callable."""
    path, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host_of(brand),
        "CONTENT_TYPE": "text/xml",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "SCRIPT_NAME": "",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        **{"HTTP_" + name.upper(): value for name, value in headers.items()},
    }
    started: list = []
    result = application(
        environ, lambda status, response_headers, exc_info=None: started.append((status, response_headers))
    )
    try:
        content = b"".join(result)
    finally:
        result.close()
    status, response_headers = started[0]
    return int(status.split()[0]), dict(response_headers), content


def test_a_callback_runs_the_short_chain_and_is_stored(application, new_brand):
    brand = new_brand("lean")
    sender = sender_for(brand)
    path, body = sender.safe(event_xml(event="lean_unhandled", from_user="oLean1"))
    status, headers, content = call(application, brand, "POST", path, body.encode())
    assert (status, content) == (200, b"success")
    assert headers["X-Request-Id"] and headers["X-Content-Type-Options"] == "nosniff"
    assert [name for name in FULL_CHAIN_ONLY if name in headers] == []
    row = CallbackEvent.objects.get(appid=sender.appid)
    assert (row.brand_id, row.kind, row.payload["FromUserName"]) == (brand.id, "event.lean_unhandled", "oLean1")
    # any other path of the same host still runs the full chain
    status, headers, _ = call(application, brand, "GET", "/api/v1/health")
    assert status == 200 and headers["X-Frame-Options"] == "DENY"


def test_the_short_chain_keeps_routing_and_refusals(application, new_brand):
    brand = new_brand("lean")
    path, body = sender_for(brand).safe(event_xml(event="lean_unhandled"))
    # unknown host: the brand routing is in the chain
    status, _, content = call(application, None, "POST", path, body.encode(), host="nobody." + host_of(None))
    assert (status, json.loads(content)["error"]["code"]) == (404, "unknown_host")
    # a body over the limit: refused unread
    status, _, content = call(application, brand, "POST", path, b"x" * (1024 * 1024 + 1))
    assert (status, json.loads(content)["error"]["code"]) == (413, "payload_too_large")
    # only the callbacks' URLs answer under /wechat/: nothing else is reached through the short chain
    status, _, content = call(application, brand, "GET", "/wechat/../admin/")
    assert (status, json.loads(content)["error"]["code"]) == (404, "not_found")
    # a suspended brand is refused before the view
    from tenants.services import brand_suspend

    brand_suspend(brand=brand)
    status, _, content = call(application, brand, "POST", path, body.encode())
    assert (status, json.loads(content)["error"]["code"]) == (403, "brand_suspended")


def test_the_short_chain_answers_in_the_default_language(application, new_brand):
    brand = new_brand("lean")
    answers = []

    def thread():  # a gunicorn thread whose previous request (through the full chain) chose English
        status, _, content = call(application, brand, "GET", "/api/v1/nothing", **{"ACCEPT_LANGUAGE": "en"})
        answers.append(json.loads(content)["error"]["message"])
        status, _, content = call(application, brand, "GET", "/wechat/nothing")
        answers.append(json.loads(content)["error"]["message"])
        translation.deactivate()
        connection.close()

    worker = threading.Thread(target=thread)
    worker.start()
    worker.join()
    assert answers == ["Not found.", "未找到。"]
