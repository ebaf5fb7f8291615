"""Small tools the tests share: a host-aware API client, a real Celery worker process, and a call parked on a
row lock the test's own transaction holds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.test.client import ClientHandler
from rest_framework.test import APIClient, ForceAuthClientHandler

from core.wsgi import CALLBACK, TOKEN_API, LeanChainMixin, TokenApiChainMixin, chain_for

ROOT = Path(__file__).resolve().parent.parent


def host_of(brand) -> str:
    if brand is None:
        return settings.EKR_BASE_DOMAIN
    return f"{brand.slug}.{settings.EKR_BASE_DOMAIN}"


class LeanClientHandler(LeanChainMixin, ClientHandler):
    pass


class TokenApiClientHandler(TokenApiChainMixin, ClientHandler):
    pass


class DispatchingClientHandler(ForceAuthClientHandler):
    """The test client's handler, dispatching as ekr's WSGI application does (core.wsgi.PathDispatch): WeChat's
    callback paths and API calls with a token header and no cookie through their short middleware chains,
    everything else (and every force_authenticate'd request) through the full one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.short = {CALLBACK: LeanClientHandler(*args, **kwargs), TOKEN_API: TokenApiClientHandler(*args, **kwargs)}

    def __call__(self, environ):
        chain = chain_for(environ)
        if chain in self.short and not (chain == TOKEN_API and self._force_user is not None):
            return self.short[chain](environ)
        return super().__call__(environ)


class BrandClient(APIClient):
    """An APIClient whose every request carries the brand's Host header (dispatched as in production)."""

    def __init__(self, brand=None, enforce_csrf_checks=False, **defaults):
        super().__init__(enforce_csrf_checks=enforce_csrf_checks, HTTP_HOST=host_of(brand), **defaults)
        self.handler = DispatchingClientHandler(enforce_csrf_checks)
        self.brand = brand

    def as_member(self, token: str) -> BrandClient:
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return self

    def as_staff(self, username: str, password: str) -> BrandClient:
        """Log in as a brand (or ops) user the way scripts do: exchange the password for an API token on this
        host once, then send `Authorization: Token ...`. A refused login leaves a token that every view refuses."""
        self.credentials()
        response = self.post(
            "/api/v1/auth/tokens", {"username": username, "password": password, "name": "tests"}, format="json"
        )
        token = response.json()["token"] if response.status_code == 201 else "ekr_refused_login"
        self.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return self


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.05, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class WorkerProcess:
    """`celery -A ekr worker` as a child process with the test settings."""

    def __init__(self, concurrency: int = 2, queues: str | None = None):
        self.concurrency = concurrency
        self.queues = queues
        self.proc: subprocess.Popen | None = None
        self.log_path = ROOT / ".data" / f"test-worker{os.environ.get('EKR_TEST_DB_SUFFIX', '')}.log"

    def start(self) -> None:
        env = dict(os.environ, DJANGO_SETTINGS_MODULE="ekr.settings.test", PYTHONUNBUFFERED="1")
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "ekr",
            "worker",
            "--loglevel=INFO",
            "--pool=prefork",
            f"--concurrency={self.concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        if self.queues:
            cmd += ["-Q", self.queues]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited; see {self.log_path}")
            if b"ready." in self.log_path.read_bytes()[-20000:]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker did not start; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its children), as a crash would."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if getattr(self, "log", None):
            self.log.close()

    def restart(self) -> None:
        self.kill()
        open(self.log_path, "wb").close()
        self.start()


def call_blocked_on_our_lock(schema: str, call) -> tuple[threading.Thread, dict]:
    """Start `call()` in a thread with its own connection, in `schema`; return (thread, out) once its statement
    waits for a lock (one the caller's open transaction holds). `out["result"]` is its result or exception after
    `thread.join()`. Ordered by observing the other backend in pg_stat_activity, not by timing."""
    from django.db import connection
    from django_tenants.utils import schema_context

    out: dict = {}
    started = threading.Event()

    def run() -> None:
        try:
            with schema_context(schema):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    out["pid"] = cursor.fetchone()[0]
                started.set()
                try:
                    out["result"] = call()
                except Exception as exc:  # asserted on by the test
                    out["result"] = exc
        finally:
            started.set()
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30) and "pid" in out
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while True:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # a fresh view inside our transaction
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [out["pid"]])
            row = cursor.fetchone()
            if row and row[0] == "Lock":
                return thread, out
            assert thread.is_alive(), f"the call ended without waiting for our lock: {out.get('result')!r}"
            assert time.monotonic() < deadline, "the concurrent call never waited for our lock"
            time.sleep(0.01)


@contextmanager
def broker_unreachable_during():
    """Inside the block this process's Celery broker is a closed port on loopback (nothing listens there): every
    send fails as it does when Redis is down, after the client's own connection retries."""
    import socket

    from ekr.celery import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens on it

    def use(broker_url):
        app.conf.broker_url = broker_url
        app._pool = None
        app.amqp._producer_pool = None

    old = app.conf.broker_url
    use(f"redis://127.0.0.1:{port}/0")
    try:
        yield
    finally:
        use(old)
