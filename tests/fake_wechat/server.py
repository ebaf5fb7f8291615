"""A WeChat-compatible HTTP server on loopback for the tests (and staging).

It answers the endpoints ekr calls, in WeChat's own formats and error codes. Tests program it:

    fake.codes["the-code"] = {"openid": "o1", "session_key": "sk", "unionid": "u1"}   # jscode2session
    fake.fail_next("/sns/jscode2session", {"errcode": -1, "errmsg": "system error"})
    fake.calls  -> [(method, path, query, body)]

Add an endpoint with `@route("GET", "/path")` on a function (fake, query, body) -> (status, dict | bytes).
"""
from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs, urlparse

ROUTES: dict[tuple[str, str], Callable] = {}


def route(method: str, path: str):
    def register(fn):
        ROUTES[(method, path)] = fn
        return fn

    return register


def ok(**payload):
    return 200, {"errcode": 0, "errmsg": "ok", **payload}


def err(code: int, msg: str):
    return 200, {"errcode": code, "errmsg": msg}


class FakeWeChat:
    def __init__(self):
        self.codes: dict[str, dict] = {}
        self.used_codes: set[str] = set()
        self.apps: dict[str, str] = {}  # appid -> secret; empty means any secret is accepted
        self.tokens: dict[str, str] = {}  # access_token -> appid
        self.calls: list[tuple[str, str, dict, bytes]] = []
        self.failures: dict[str, list] = {}
        self.delay_seconds = 0.0
        self.lock = threading.Lock()
        self.state: dict = {}  # room for endpoints to keep what they were told (cards, orders ...)
        self.httpd: ThreadingHTTPServer | None = None

    # --- programming ---
    def fail_next(self, path: str, payload: dict, status: int = 200, times: int = 1):
        self.failures.setdefault(path, []).extend([(status, payload)] * times)

    def calls_to(self, path: str) -> list:
        return [c for c in self.calls if c[1] == path]

    def reset(self):
        with self.lock:
            self.codes.clear()
            self.used_codes.clear()
            self.calls.clear()
            self.failures.clear()
            self.state.clear()
            self.delay_seconds = 0.0

    # --- access tokens ---
    def check_token(self, query: dict) -> str | None:
        return self.tokens.get(query.get("access_token", ""))

    # --- server ---
    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "FakeWeChat":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self, method: str):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.calls.append((method, url.path, query, body))
                    queued = fake.failures.get(url.path)
                    failure = queued.pop(0) if queued else None
                if fake.delay_seconds:
                    import time

                    time.sleep(fake.delay_seconds)
                if failure:
                    status, payload = failure
                else:
                    handler = ROUTES.get((method, url.path))
                    if handler is None:
                        status, payload = 404, {"errcode": 404, "errmsg": f"fake wechat: no route {url.path}"}
                    else:
                        status, payload = handler(fake, query, body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(status)
                ctype = "text/xml" if raw.startswith(b"<xml") else "application/json; charset=utf-8"
                if isinstance(payload, bytes) and not raw.startswith(b"<xml"):
                    ctype = "image/jpeg"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()


# --- endpoints -----------------------------------------------------------------------------------------------

@route("GET", "/cgi-bin/token")
def token(fake: FakeWeChat, query: dict, body: bytes):
    appid, secret = query.get("appid", ""), query.get("secret", "")
    if fake.apps and fake.apps.get(appid) != secret:
        return err(40125, "invalid appsecret")
    access_token = "AT_" + secrets.token_hex(16)
    fake.tokens[access_token] = appid
    return 200, {"access_token": access_token, "expires_in": 7200}


@route("GET", "/sns/jscode2session")
def jscode2session(fake: FakeWeChat, query: dict, body: bytes):
    code = query.get("js_code", "")
    if fake.apps and fake.apps.get(query.get("appid", "")) != query.get("secret"):
        return err(40125, "invalid appsecret")
    with fake.lock:
        if code in fake.used_codes:
            return err(40163, "code been used")
        session = fake.codes.get(code)
        if session is None:
            return err(40029, "invalid code")
        fake.used_codes.add(code)
    return 200, dict(session)
