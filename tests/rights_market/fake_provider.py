"""A fake virtual-goods provider on loopback speaking rights_market.providers' JSON protocol.

`mode`: "ok"; "slow" (sleeps `delay` seconds before answering); "fail" (500 to every call); "reject" (422 on
issue). Checks every request's signature and signs every answer. Issuing is idempotent on reference; `issued`
counts distinct codes ever created, `calls` every request.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from rights_market.providers import sign


class FakeProvider:
    def __init__(self, key: str = "provider-key-1"):
        self.key = key
        self.mode = "ok"
        self.delay = 0.0
        self.codes: dict[str, dict] = {}
        self.calls = 0
        self.bad_signatures = 0
        self.lock = threading.Lock()

    @property
    def issued(self) -> int:
        return len(self.codes)

    def start(self) -> FakeProvider:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, payload: dict) -> None:
                body = json.dumps(payload)
                ts = str(int(time.time()))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Ekr-Timestamp", ts)
                self.send_header("X-Ekr-Signature", sign(fake.key, ts, str(status), body))
                self.send_header("Content-Length", str(len(body.encode())))
                self.end_headers()
                self.wfile.write(body.encode())

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                with fake.lock:
                    fake.calls += 1
                expected = sign(fake.key, self.headers.get("X-Ekr-Timestamp", ""), method, self.path, raw)
                if expected != self.headers.get("X-Ekr-Signature"):
                    with fake.lock:
                        fake.bad_signatures += 1
                    return self._answer(401, {"error": "bad signature"})
                if fake.mode == "slow":
                    time.sleep(fake.delay)
                if fake.mode == "fail":
                    return self._answer(500, {"error": "boom"})
                parts = self.path.strip("/").split("/")
                with fake.lock:
                    if method == "POST" and parts == ["codes"]:
                        if fake.mode == "reject":
                            return self._answer(422, {"error": "out of stock"})
                        data = json.loads(raw)
                        entry = fake.codes.setdefault(
                            data["reference"],
                            {"reference": data["reference"], "code": uuid.uuid4().hex[:12].upper(), "status": "issued"},
                        )
                        return self._answer(200, entry)
                    entry = fake.codes.get(parts[1]) if len(parts) >= 2 else None
                    if entry is None:
                        return self._answer(404, {"error": "unknown reference"})
                    if method == "POST" and len(parts) == 3 and parts[2] == "void":
                        entry["status"] = "void"
                    return self._answer(200, entry)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
