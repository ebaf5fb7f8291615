"""Shared HTTP pieces of the benches that go through a real server: gunicorn on a free port with a bench settings
module, a keep-alive JSON client, and the CPU a process group used (server or worker, from /proc)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(port: int, settings_module: str, *, workers: int = 2, threads: int = 8) -> subprocess.Popen:
    """gunicorn (gthread) serving ekr.wsgi with `settings_module`, in a process group of its own.
    `EKR_BENCH_GUNICORN=PxT` in the environment overrides the shape (processes x threads) of every bench server."""
    from django.conf import settings

    if os.environ.get("EKR_BENCH_GUNICORN"):
        workers, threads = (int(n) for n in os.environ["EKR_BENCH_GUNICORN"].split("x"))

    env = dict(os.environ, DJANGO_SETTINGS_MODULE=settings_module)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "ekr.wsgi",
            "-k",
            "gthread",
            "-w",
            str(workers),
            "--threads",
            str(threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "512",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/health", headers={"Host": f"platform.{settings.EKR_BASE_DOMAIN}"})
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def stop_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def group_cpu(proc: subprocess.Popen) -> float:
    """User + system CPU seconds of the live processes in `proc`'s process group (a server and its workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == proc.pid:  # pgrp (the group leader is the process we started)
            total += int(fields[11]) + int(fields[12])
    return total / tick


class Client:
    """One caller's keep-alive HTTP connection to the bench server, for a brand's host, with a bearer token."""

    def __init__(self, port: int, host: str, token: str):
        self.port, self.host, self.token = port, host, token
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        headers = {"Host": self.host, "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self.conn.request("POST", path, body=json.dumps(body), headers=headers)
                response = self.conn.getresponse()
                return response.status, json.loads(response.read())
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError
