"""bench/members: CSV import of 200,000 members and member look-up by phone under 20 concurrent clients, each
beside a bare baseline measured in the same run (a COPY of the same rows; an indexed SELECT on the phone hash).

    .venv/bin/python bench/members.py [--rows 200000] [--clients 20] [--seconds 10]

Runs with ekr.settings.local against a database of its own (<name>_bench_members, created and migrated on first
use, so the shared dev database is never touched) on a fresh brand `benchmembers<random>`. The look-up goes
through the real staff API (`GET /api/v1/staff/members?phone=`) served by gunicorn, authenticated by session.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["DJANGO_SETTINGS_MODULE"] = "ekr.settings.local"
os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")


def _bench_database_url() -> str:
    from ekr.devservices import load_service_env

    load_service_env(ROOT)
    url = os.environ["DATABASE_URL"]
    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    return f"{base}/{name}_bench_members", name


def _ensure_database(url: str) -> None:
    import dj_database_url
    import psycopg2

    cfg = dj_database_url.parse(url)
    conn = psycopg2.connect(
        dbname="postgres",
        user=cfg.get("USER") or "postgres",
        password=cfg.get("PASSWORD") or "",
        host=cfg.get("HOST") or "",
        port=cfg.get("PORT") or "",
    )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    conn.close()


def make_csv(rows: int) -> bytes:
    rnd = random.Random(7)
    out = io.StringIO()
    out.write("phone,name,gender,birthday,joined_at\n")
    for i in range(rows):
        out.write(
            f"139{i:08d},会员{i},{'女' if i % 2 else '男'},{1960 + i % 45}-{1 + i % 12:02d}-{1 + i % 28:02d},"
            f"20{10 + i % 14}-0{1 + i % 9}-1{i % 10} 10:{i % 60:02d}:00\n"
        )
        if rnd.random() < 0:  # keep the generator deterministic
            break
    return out.getvalue().encode()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def run_clients(clients: int, seconds: float, make_worker) -> tuple[float, float, float, int]:
    """Each client loops `call()` for `seconds`; returns (req/s, p50 ms, p99 ms, errors)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def loop(n: int) -> None:
        call = make_worker(n)
        barrier.wait()
        mine = latencies[n]
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                call()
            except Exception:
                errors[n] += 1
            mine.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds + 0.001
    start = time.perf_counter()
    barrier.wait()
    stop_at[0] = start + seconds
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    flat = [x for xs in latencies for x in xs]
    return len(flat) / elapsed, statistics.median(flat) * 1000, percentile(flat, 99) * 1000, sum(errors)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    url, _ = _bench_database_url()
    os.environ["DATABASE_URL"] = url
    _ensure_database(url)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django_tenants.utils import schema_context

    t0 = time.perf_counter()
    call_command("bootstrap", verbosity=0)
    print(f"database {connection.settings_dict['NAME']} migrated in {time.perf_counter() - t0:.1f}s")

    from tenants.services import brand_create

    slug = f"benchmembers{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    brand_create(slug=slug, name="bench members", admin_username="bench-hq", admin_password=password)
    print(f"brand {slug}; {args.rows} rows, {args.clients} clients, {args.seconds:.0f}s per load phase")

    content = make_csv(args.rows)
    print(f"CSV {len(content) / 1e6:.1f} MB")

    from members.models import Member
    from members.services.imports import (
        CHUNK_MAX_BYTES,
        member_import_chunk_add,
        member_import_create,
        member_import_rerun,
        member_import_run,
        member_import_start,
    )

    with schema_context(slug):
        # --- baseline: bare COPY of the same rows into a plain table with the same columns ---------------------
        with connection.cursor() as cur:
            cur.execute(
                "CREATE TABLE bench_copy (phone text, name text, gender text, birthday date, joined_at timestamp)"
            )
            t0 = time.perf_counter()
            cur.cursor.copy_expert("COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)", io.BytesIO(content))
            copy_s = time.perf_counter() - t0
            cur.execute("DROP TABLE bench_copy")
        copy_rate = args.rows / copy_s

        # --- the import (as the worker runs it, in-process here) -----------------------------------------------
        imp = member_import_create(filename="bench.csv")
        for seq, start in enumerate(range(0, len(content), CHUNK_MAX_BYTES)):
            member_import_chunk_add(member_import=imp, seq=seq, data=content[start : start + CHUNK_MAX_BYTES])
        member_import_start(member_import=imp)  # on_commit would queue the task: run it here instead
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        imp = member_import_run(import_id=imp.pk)
        import_s = time.perf_counter() - t0
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        assert imp.status == "done" and imp.rows_created == args.rows, (imp.status, imp.error, imp.rows_created)
        import_rate = args.rows / import_s

        # re-run of the same file: every row updates its member (matched on the phone hash)
        imp = member_import_rerun(member_import=imp)
        t0 = time.perf_counter()
        imp = member_import_run(import_id=imp.pk)
        rerun_s = time.perf_counter() - t0
        assert imp.rows_updated == args.rows and Member.objects.count() == args.rows

        # Python heap peak (tracemalloc slows the run, so on a slice: memory is bounded by the batch, not the file)
        small = content[: content.index(b"\n", len(content) // 20) + 1]
        imp_small = member_import_create(filename="bench-slice.csv")
        for seq, start in enumerate(range(0, len(small), CHUNK_MAX_BYTES)):
            member_import_chunk_add(member_import=imp_small, seq=seq, data=small[start : start + CHUNK_MAX_BYTES])
        member_import_start(member_import=imp_small)
        tracemalloc.start()
        member_import_run(import_id=imp_small.pk)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

        print()
        print(
            f"import   {args.rows} rows in {import_s:6.2f}s = {import_rate:8.0f} rows/s "
            f"(peak RSS {rss_after / 1024:.0f} MB, +{(rss_after - rss_before) / 1024:.0f} MB during the run)"
        )
        print(f"COPY     {args.rows} rows in {copy_s:6.2f}s = {copy_rate:8.0f} rows/s (bare COPY, same rows)")
        print(f"ratio    import / COPY = {import_rate / copy_rate:.3f} (COPY is {copy_rate / import_rate:.1f}x faster)")
        print(f"re-run   {args.rows} updates in {rerun_s:6.2f}s = {args.rows / rerun_s:8.0f} rows/s (same file again)")
        print(
            f"memory   tracemalloc Python peak of an import run: {traced_peak / 1e6:.1f} MB "
            f"(batches of 5000 rows; independent of file size)"
        )

        # --- look-up by phone ---------------------------------------------------------------------------------
        from django.contrib.auth import get_user_model
        from django.contrib.sessions.backends.db import SessionStore

        user = get_user_model().objects.get(username="bench-hq")
        session = SessionStore()
        session["_auth_user_id"] = str(user.pk)
        session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        session["_auth_user_hash"] = user.get_session_auth_hash()
        session.save()
        session_key = session.session_key
        from members.selectors import phone_hash

        phones = [f"139{i:08d}" for i in random.Random(1).sample(range(args.rows), 2000)]
        hashes = [phone_hash(p) for p in phones]
    connection.close()

    import psycopg2
    import requests
    from django.conf import settings

    db = settings.DATABASES["default"]

    def select_worker(n: int):
        conn = psycopg2.connect(
            dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or None
        )
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute(f'SET search_path = "{slug}"')
        rnd = random.Random(n)

        def call():
            cur.execute("SELECT id FROM members_member WHERE phone_hash = %s", [rnd.choice(hashes)])
            assert cur.fetchone() is not None

        return call

    sel = run_clients(args.clients, args.seconds, select_worker)

    port = random.randint(20000, 40000)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="ekr.settings.local", EKR_LOG_LEVEL="WARNING")
    server = subprocess.Popen(
        [
            str(Path(sys.executable)),
            "-m",
            "gunicorn",
            "ekr.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--threads",
            "4",
            "--worker-class",
            "gthread",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    host = f"{slug}.{settings.EKR_BASE_DOMAIN}"
    try:
        for _ in range(100):
            try:
                requests.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"Host": host}, timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)

        def api_worker(n: int):
            http = requests.Session()
            http.headers["Host"] = host
            http.cookies.set("sessionid", session_key)
            rnd = random.Random(n)

            def call():
                phone = rnd.choice(phones)
                r = http.get(f"http://127.0.0.1:{port}/api/v1/staff/members", params={"phone": phone}, timeout=10)
                assert r.status_code == 200 and len(r.json()["results"]) == 1, r.text[:200]

            return call

        api_worker(0)()  # warm-up and a correctness check
        api = run_clients(args.clients, args.seconds, api_worker)
    finally:
        server.terminate()
        server.wait(timeout=20)

    print()
    print(
        f"look-up by phone, {args.clients} concurrent clients, {args.seconds:.0f}s each "
        f"(machine: {os.cpu_count()} CPUs; clients, gunicorn 2x4 and PostgreSQL share them)"
    )
    print(
        f"API      GET /api/v1/staff/members?phone=  {api[0]:8.0f} req/s  p50 {api[1]:6.2f} ms  "
        f"p99 {api[2]:6.2f} ms  errors {api[3]}"
    )
    print(
        f"SELECT   indexed phone_hash look-up         {sel[0]:8.0f} q/s    p50 {sel[1]:6.2f} ms  "
        f"p99 {sel[2]:6.2f} ms  errors {sel[3]}"
    )
    print(f"ratio    API / SELECT throughput = {api[0] / sel[0]:.3f}; p99 API / SELECT = {api[2] / sel[2]:.1f}x")


if __name__ == "__main__":
    main()
