"""bench/members: the member import and the staff look-up by phone, each beside baselines measured in the same run.

    .venv/bin/python bench/members.py [--rows 200000] [--clients 20] [--seconds 10] [--workers 1] [--profile DIR]
        [--only import|lookup] [--cprofile FILE] [--servers 4x2,2x8] [--repeat 3]

Run small while the machine is busy: .venv/bin/python bench/members.py --rows 20000 --clients 8 --seconds 6
The import alone (issue 17's figure): .venv/bin/python bench/members.py --rows 100000 --only import

Its own database (<db>_bench_members) and Redis db 12 (bench/_owndb.py), a fresh brand `benchmembers<random>`.

- **Import**: a CSV of `--rows` members is uploaded in chunks and imported by `--workers` real Celery worker
  processes (the queue the API's start queues on); rows/s is the wall time from start to `done`. Baseline: a bare
  COPY of the same CSV into a plain table with the same columns. The same file is then imported again (every row
  an update, matched on the phone's blind index). All three are measured in each of `--repeat` rounds (default 3,
  the brand's members truncated between rounds) and every figure printed and judged is the median over the
  rounds (the ratio to COPY: the median of each round's ratio), so one noisy round on a shared machine does not
  decide the verdict; each round's figures are printed too.
- **Look-up by phone**: `GET /api/v1/staff/members?phone=` served by gunicorn (gthread, 2 workers x 4 threads),
  authenticated by an API token, beside a plain Django view of the same rows through the ORM, no DRF and none of
  our layers (bench/urls_members.py, served by the same gunicorn), and beside the bare indexed SELECT on the phone
  hash over psycopg2. `--clients` keep-alive clients; the API and the plain view alternate in one-second blocks
  (`--seconds` of each), so both see the same machine; then the bare SELECT with as many clients. That closed
  loop saturates the servers, so its p99 is mostly queueing (about clients / rate). Then an open loop: requests due
  at half the plain view's closed-loop rate of this run, evenly spaced, sent by whichever client is free, each
  latency counted from when it was due; the API and the plain view alternate again.
- CPU per request of each path by process: the gunicorn group, the PostgreSQL backends of the bench's database
  (from /proc, between blocks) and this process's clients; with the closed loop's arithmetic: at saturation the
  rate is cores / total CPU per request and the mean latency clients / rate.
- `--servers 4x2,2x8` also serves the API from gunicorns of those shapes (processes x threads) in the same
  alternating blocks, to choose the shape (the judged one is 2 x 4, production's one process a core and 4 threads,
  docker-compose.yml). By default 2x2 is served too and its closed-loop p99 printed (info): on this path 2 threads a
  process give the same rate with a shorter tail (fewer threads waiting on one GIL), but production's web threads
  also overlap the WeChat calls some requests make (order_prepay), so the judged shape stays 2 x 4.

Figures judged (bench/_report.py): look-up throughput API / plain view (aim >= 0.8), API p99 in the closed loop
and in the open loop (< 50 ms; each figure names the plain view's p99 of the same loop), import rows/s (>= 50,000)
and its ratio to COPY.

Profiles. `--profile DIR` records the gunicorn workers with py-spy during one extra API round and the import
worker(s) during the import, and writes DIR/lookup.txt and DIR/import.txt (top functions by own and total time):

    .venv/bin/python bench/members.py --rows 20000 --clients 8 --seconds 6 --profile /tmp/prof-members

which runs `py-spy record --pid <gunicorn master> --subprocesses --format raw --rate 200 --duration <s>` and the
same on the Celery worker's master.

`--cprofile-lookup FILE` only profiles the look-up (issue 17's figures): 1,000 look-ups of the API and then of the
plain view, in this process through Django's test client (the whole middleware chain, no server), each under
cProfile with process CPU as its timer; prints the CPU of each and the API's top functions, dumps the pstats:

    .venv/bin/python bench/members.py --rows 20000 --cprofile-lookup /tmp/lookup.pstats

`--cprofile FILE` only imports the file once, in this process, under cProfile (the task's thread and the batches
written on the writer thread, merged; the pieces read on the reader processes show as waits on their futures),
prints the top functions by own and by cumulative time and dumps the pstats to FILE:

    .venv/bin/python bench/members.py --rows 100000 --cprofile /tmp/import.pstats

`--explain` (the PostgreSQL side) imports `--rows` in this process and prints where the CPU went, per row: this
process (the task's thread and the writer threads' Python), the reader processes, and every PostgreSQL backend of
the run (sampled from /proc); then, on top of those members, one batch of 5,000 new ones (rolled back) under
EXPLAIN (ANALYZE, BUFFERS, WAL) with the foreign keys checked at once (SET CONSTRAINTS ALL IMMEDIATE: their
triggers' times are listed), the same batch again without EXPLAIN timed by the backend's CPU (insert, then the
foreign-key checks), and each members_member index's size:

    .venv/bin/python bench/members.py --rows 200000 --explain

Writers (settings.EKR_IMPORT_WRITERS, default 2; the Celery worker inherits the environment), compared in one
sitting:

    for w in 1 2 1 2; do EKR_IMPORT_WRITERS=$w .venv/bin/python bench/members.py --only import | grep -E '^(import|COPY)'; done
"""

from __future__ import annotations

import argparse
import collections
import http.client
import io
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import _owndb
from _http import free_port, group_cpu, start_gunicorn, stop_group

DB_NAME = _owndb.use("members", redis_db=12)

from _report import figure  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def make_csv(rows: int) -> bytes:
    out = io.StringIO()
    out.write("phone,name,gender,birthday,joined_at\n")
    for i in range(rows):
        out.write(
            f"139{i:08d},会员{i},{'女' if i % 2 else '男'},{1960 + i % 45}-{1 + i % 12:02d}-{1 + i % 28:02d},"
            f"20{10 + i % 14}-0{1 + i % 9}-1{i % 10} 10:{i % 60:02d}:00\n"
        )
    return out.getvalue().encode()


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def run_clients(clients: int, seconds: float, make_worker) -> dict:
    """Each client loops its `call()` for `seconds`; returns req/s, p50/p99 ms, errors, latencies."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)
    stop_at = [float("inf")]

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
    barrier.wait()
    start = time.perf_counter()
    stop_at[0] = start + seconds
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    flat = [x for xs in latencies for x in xs]
    return {"rate": len(flat) / elapsed, "lat": flat, "errors": sum(errors)}


def run_offered(rate: float, clients: int, seconds: float, make_worker) -> dict:
    """Open loop: requests are due at a fixed `rate` (evenly spaced), sent by whichever of `clients` keep-alive
    clients is free; a latency runs from when the request was due, so time spent waiting for a free client counts
    (no coordinated omission). Returns what run_clients returns."""
    due = iter([i / rate for i in range(int(rate * seconds))])
    lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    barrier = threading.Barrier(clients + 1)
    start = [0.0]

    def loop(n: int) -> None:
        call = make_worker(n)
        barrier.wait()
        mine = latencies[n]
        while True:
            with lock:
                at = next(due, None)
            if at is None:
                return
            at += start[0]
            wait = at - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            try:
                call()
            except Exception:
                errors[n] += 1
            mine.append(time.perf_counter() - at)

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    start[0] = time.perf_counter() + 0.05
    barrier.wait()
    for t in threads:
        t.join()
    flat = [x for xs in latencies for x in xs]
    return {"rate": len(flat) / (time.perf_counter() - start[0]), "lat": flat, "errors": sum(errors)}


def summary(runs: list[dict]) -> tuple[float, float, float, int]:
    lat = [x for r in runs for x in r["lat"]]
    rate = sum(r["rate"] for r in runs) / len(runs)
    return rate, statistics.median(lat) * 1000, percentile(lat, 99) * 1000, sum(r["errors"] for r in runs)


# --- profiles ---------------------------------------------------------------------------------------------------


def py_spy_start(pid: int, out: Path, seconds: float) -> subprocess.Popen:
    cmd = [
        str(Path(PY).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--format",
        "raw",
        "--rate",
        "200",
        "--duration",
        str(int(seconds)),
        "--output",
        str(out),
        "--nonblocking",
    ]
    print("profile: " + " ".join(cmd), flush=True)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def py_spy_top(raw: Path, out: Path, n: int = 25) -> None:
    """Own and total sample counts per function from py-spy's collapsed stacks."""
    own: collections.Counter = collections.Counter()
    total: collections.Counter = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        count = int(count)
        samples += count
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        own[frames[-1]] += count
        for f in set(frames):
            total[f] += count
    lines = [f"{samples} samples", "", "own %   function"]
    lines += [f"{100 * c / samples:5.1f}   {f}" for f, c in own.most_common(n)]
    lines += ["", "total % function"]
    lines += [f"{100 * c / samples:5.1f}   {f}" for f, c in total.most_common(n * 2)]
    out.write_text("\n".join(lines) + "\n")
    print(f"profile written to {out}")


# --- import -----------------------------------------------------------------------------------------------------


def bench_import(slug: str, content: bytes, rows: int, workers: int, profile: Path | None, repeat: int = 3) -> dict:
    """`repeat` rounds, each a bare COPY of the CSV, the import into an empty brand and the re-run of the same file,
    on one Celery worker started once; the members (and every table that refers to them) are truncated between
    rounds. Returns each figure's median over the rounds and the rounds themselves."""
    from members.models import Member, MemberImport
    from members.services.imports import member_import_from_bytes, member_import_rerun

    worker = subprocess.Popen(
        [
            PY,
            "-m",
            "celery",
            "-A",
            "ekr",
            "worker",
            "-l",
            "warning",
            "-c",
            str(workers),
            "-P",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"benchmembers-{uuid.uuid4().hex[:6]}",
        ],
        cwd=ROOT,
        env=dict(os.environ, DJANGO_SETTINGS_MODULE="ekr.settings.local"),
        start_new_session=True,
    )
    rounds: list[dict] = []
    try:
        with schema_context(slug):
            imp = member_import_from_bytes(filename="warm.csv", content=content[: content.index(b"\n") + 1])
            wait_done(imp.pk, MemberImport)  # the workers are up (a header-only file)

            def timed(run_start) -> tuple[MemberImport, float]:
                t0 = time.perf_counter()
                imp = run_start()
                imp = wait_done(imp.pk, MemberImport)
                return imp, time.perf_counter() - t0

            for n in range(repeat):
                with connection.cursor() as cur:
                    cur.execute("TRUNCATE members_member CASCADE")  # an empty brand again, storage reset
                    cur.execute(
                        "CREATE TABLE bench_copy (phone text, name text, gender text, birthday date, joined_at timestamp)"
                    )
                    t0 = time.perf_counter()
                    cur.cursor.copy_expert(
                        "COPY bench_copy FROM STDIN WITH (FORMAT csv, HEADER true)", io.BytesIO(content)
                    )
                    copy_s = time.perf_counter() - t0
                    cur.execute("DROP TABLE bench_copy")
                spy = py_spy_start(worker.pid, profile / "import.raw", 600) if profile and n == 0 else None
                imp, import_s = timed(lambda: member_import_from_bytes(filename="bench.csv", content=content))
                if spy:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(timeout=60)
                    py_spy_top(profile / "import.raw", profile / "import.txt")
                assert imp.status == "done" and imp.rows_created == rows, (imp.status, imp.error, imp.rows_created)
                rerun, rerun_s = timed(lambda done=imp: member_import_rerun(member_import=done))
                assert rerun.rows_updated == rows and Member.objects.count() == rows, (rerun.rows_updated, rerun.error)
                rounds.append(
                    {"copy": rows / copy_s, "import": rows / import_s, "import_s": import_s, "rerun": rows / rerun_s}
                )
                print(
                    f"  round {n + 1}/{repeat}: import {rounds[-1]['import']:8.0f} rows/s, COPY {rounds[-1]['copy']:8.0f} "
                    f"rows/s, re-run {rounds[-1]['rerun']:8.0f} rows/s",
                    flush=True,
                )
        connection.close()
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    median["ratio"] = statistics.median(r["import"] / r["copy"] for r in rounds)
    median["rounds"] = rounds
    return median


def cprofile_import(slug: str, content: bytes, out: Path) -> None:
    """The import run in this process under cProfile: the task's thread and every thread or process it writes or
    parses on (their profiles merged), top functions printed and the stats dumped to `out` (pstats)."""
    import cProfile
    import pstats

    from members.services import imports
    from members.services.imports import member_import_from_bytes, member_import_run

    with schema_context(slug):
        imp = member_import_from_bytes(filename="profile.csv", content=content)
        profiles: list[cProfile.Profile] = []
        real_batch = imports._import_batch

        def profiled_batch(**batch):  # the writer thread's share
            prof = cProfile.Profile()
            profiles.append(prof)
            prof.enable()
            try:
                return real_batch(**batch)
            finally:
                prof.disable()

        imports._import_batch = profiled_batch
        main = cProfile.Profile()
        t0 = time.perf_counter()
        main.enable()
        try:
            imp = member_import_run(import_id=imp.pk)
        finally:
            main.disable()
            imports._import_batch = real_batch
        elapsed = time.perf_counter() - t0
    connection.close()
    stats = pstats.Stats(main)
    for prof in profiles:
        stats.add(prof)
    stats.dump_stats(str(out))
    rows = imp.rows_processed
    print(f"cProfile: {rows} rows in {elapsed:.2f}s = {rows / elapsed:.0f} rows/s under the profiler; stats in {out}")
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def explain_import(slug: str, content: bytes, rows: int) -> None:
    """--explain: the CPU of an in-process import, per row and per process kind; then one batch under EXPLAIN."""
    import datetime as dt

    import psycopg2
    from django.utils import timezone

    from members.models import TierChange
    from members.selectors import card_level_entry
    from members.services import imports
    from members.services.import_parsing import StagedRow, copy_text
    from members.services.tiers import one_year_after

    db = settings.DATABASES["default"]
    monitor = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or None
    )
    monitor.autocommit = True
    backends: dict[int, tuple[float, float]] = {}  # pid -> (first, last) CPU seen
    done = threading.Event()

    def sample() -> None:
        with monitor.cursor() as cur:
            while not done.is_set():
                cur.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                for (pid,) in cur.fetchall():
                    cpu = _cpu_seconds(pid)
                    if cpu is not None:
                        backends[pid] = (backends.get(pid, (cpu, cpu))[0], cpu)
                time.sleep(0.02)

    with schema_context(slug):
        imp = imports.member_import_from_bytes(filename="explain.csv", content=content)
    sampler = threading.Thread(target=sample)
    sampler.start()
    t0, before = time.perf_counter(), os.times()
    with schema_context(slug):
        imp = imports.member_import_run(import_id=imp.pk)
    wall, after = time.perf_counter() - t0, os.times()
    done.set()
    sampler.join()
    monitor.close()
    me = after.user - before.user + after.system - before.system
    readers = after.children_user - before.children_user + after.children_system - before.children_system
    pg = sum(last - first for first, last in backends.values())
    us = 1e6 / rows
    print(
        f"{imp.status}: {rows} rows in {wall:.2f}s = {rows / wall:.0f} rows/s. CPU per row: this process "
        f"{me * us:.1f} us, readers {readers * us:.1f} us, PostgreSQL {pg * us:.1f} us ({len(backends)} backends); "
        f"total {(me + readers + pg) * us:.1f} us = at most {2e6 / ((me + readers + pg) * us):.0f} rows/s on 2 cores"
    )

    n = 5000
    tz = dt.timezone(dt.timedelta(hours=8))

    def batch(prefix: str) -> str:
        return copy_text(
            [
                StagedRow("", f"{prefix}{i:08d}", f"会员{i}", "female", dt.date(1980, 1, 1 + i % 28),
                          dt.datetime(2015, 1, 1 + i % 28, 10, i % 60, tzinfo=tz), None, None, None, None)
                for i in range(n)
            ]
        )  # fmt: skip

    with schema_context(slug), connection.cursor() as cur:
        now = timezone.now()
        params = {
            "entry": card_level_entry().pk,
            "reason": "explain",
            "now": now,
            "review": one_year_after(now),
            "initial": TierChange.Kind.INITIAL,
        }
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        for prefix, explain in (("137", True), ("136", False)):
            cur.execute("BEGIN")
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS members_import_stage (phone_hash text, phone text, name text, "
                "gender text, birthday date, joined_at timestamptz, join_store_id bigint, guide_id bigint, "
                "store_id bigint, tier_id bigint) ON COMMIT DELETE ROWS"
            )
            cur.cursor.copy_expert(
                f"COPY members_import_stage ({', '.join(StagedRow._fields)}) FROM STDIN", io.StringIO(batch(prefix))
            )
            if explain:
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cur.execute("EXPLAIN (ANALYZE, BUFFERS, WAL) " + imports._INSERT_ALL_NEW, params)
                print(f"\nEXPLAIN (ANALYZE, BUFFERS, WAL) of one batch of {n} new members, foreign keys immediate:")
                print("\n".join(row[0] for row in cur.fetchall()))
            else:
                c0 = _cpu_seconds(pid)
                cur.execute(imports._INSERT_ALL_NEW, params)  # what a batch of new phones runs
                c1 = _cpu_seconds(pid)
                cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                c2 = _cpu_seconds(pid)
                print(
                    f"\nthe same without EXPLAIN, backend CPU per row: insert {1e6 * (c1 - c0) / n:.1f} us, "
                    f"foreign-key checks {1e6 * (c2 - c1) / n:.1f} us"
                )
            cur.execute("ROLLBACK")
        cur.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE schemaname = current_schema() AND relname = 'members_member' ORDER BY 2 DESC"
        )
        print(f"\nmembers_member indexes after {rows} imported members (bytes):")
        for name, size in cur.fetchall():
            print(f"  {size:>12,}  {name}")
    connection.close()


def seed_members(slug: str, content: bytes) -> None:
    """The members for a look-up-only run, imported in-process."""
    from members.services.imports import member_import_from_bytes, member_import_run

    with schema_context(slug):
        member_import_run(import_id=member_import_from_bytes(filename="seed.csv", content=content).pk)
    connection.close()


def wait_done(pk: int, model, timeout: float = 1800):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        imp = model.objects.get(pk=pk)
        if imp.status in ("done", "failed"):
            return imp
        time.sleep(0.05)
    raise TimeoutError(f"import {pk} still {imp.status}")


# --- look-up ----------------------------------------------------------------------------------------------------


class BackendCPU:
    """CPU seconds used so far by the PostgreSQL backends of this database (from /proc), read between blocks: with
    persistent connections (CONN_MAX_AGE) the servers' backends live through the run."""

    def __init__(self):
        import psycopg2

        db = settings.DATABASES["default"]
        self.conn = psycopg2.connect(
            dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"], host=db["HOST"], port=db["PORT"] or None
        )
        self.conn.autocommit = True
        self.first: dict[int, float] = {}  # pid -> CPU when first seen
        self.last: dict[int, float] = {}  # pid -> CPU when last seen (a backend that ended keeps its share)

    def total(self) -> float:
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            pids = [pid for (pid,) in cur.fetchall()]
        for pid in pids:
            now = _cpu_seconds(pid)
            if now is not None:
                self.first.setdefault(pid, now)
                self.last[pid] = now
        return sum(self.last[pid] - self.first[pid] for pid in self.last)

    def close(self) -> None:
        self.conn.close()


def bench_lookup(
    slug: str, rows: int, clients: int, seconds: float, profile: Path | None, shapes: list[tuple[int, int]] = ()
) -> dict:
    from django.contrib.auth import get_user_model

    from core.tokens import api_token_issue
    from members.selectors import phone_hash

    with schema_context(slug):
        _, token = api_token_issue(user=get_user_model().objects.get(username="bench-hq"), name="bench")
        phones = [f"139{i:08d}" for i in random.Random(1).sample(range(rows), min(rows, 2000))]
        hashes = [phone_hash(p) for p in phones]
    connection.close()
    db = settings.DATABASES["default"]

    def select_worker(n: int):
        import psycopg2

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

    port = free_port()
    host = f"{slug}.{settings.EKR_BASE_DOMAIN}"
    headers = {"Host": host, "Authorization": f"Token {token}"}

    def http_worker(path: str, port: int = port):
        def make(n: int):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            rnd = random.Random(n)

            def call():
                phone = rnd.choice(phones)
                conn.request("GET", f"{path}?phone={phone}", headers=headers)
                r = conn.getresponse()
                body = r.read()
                assert r.status == 200 and len(json.loads(body)["results"]) == 1, body[:200]

            return call

        return make

    api, plain = http_worker("/api/v1/staff/members"), http_worker("/bench/plain/members")
    server = start_gunicorn(port, "bench.settings_members", threads=4)
    others = {}  # --servers: the API again on gunicorns of other shapes (processes x threads), same blocks
    try:
        for workers, threads in shapes:
            other_port = free_port()
            others[f"api {workers}x{threads}"] = (
                start_gunicorn(other_port, "bench.settings_members", workers=workers, threads=threads),
                http_worker("/api/v1/staff/members", other_port),
            )
        paths = {"api": (server, api), "plain": (server, plain), **others}
        for _, make in paths.values():  # warm-up and a correctness check of each
            for n in range(clients):
                make(n)()
        sel = [run_clients(clients, seconds, select_worker)]
        runs: dict[str, list[dict]] = {name: [] for name in paths}
        cpu = dict.fromkeys(paths, 0.0)
        pg_cpu, client_cpu = dict.fromkeys(paths, 0.0), dict.fromkeys(paths, 0.0)
        names = list(paths)
        backends = BackendCPU()
        for block in range(max(2, round(seconds))):  # one-second blocks, each path first in turn
            for name in names[block % len(names) :] + names[: block % len(names)]:
                proc, make = paths[name]
                before, pg_before, mine = group_cpu(proc), backends.total(), os.times()
                runs[name].append(run_clients(clients, 1.0, make))
                cpu[name] += group_cpu(proc) - before
                pg_cpu[name] += backends.total() - pg_before
                after = os.times()
                client_cpu[name] += after.user - mine.user + after.system - mine.system
        backends.close()
        # Then an open loop at half of what the plain view served above: the latency a staff member sees when
        # the servers are busy but not saturated (the closed loop's p99 is mostly queueing: clients / rate).
        offered = 0.5 * summary(runs["plain"])[0]
        open_runs: dict[str, list[dict]] = {"api": [], "plain": []}
        for block in range(max(2, round(seconds))):
            for name in ("api", "plain") if block % 2 else ("plain", "api"):
                open_runs[name].append(run_offered(offered, clients, 1.0, paths[name][1]))
        if profile:
            spy = py_spy_start(server.pid, profile / "lookup.raw", seconds)
            time.sleep(1)
            run_clients(clients, seconds, api)
            spy.wait(timeout=60)
            py_spy_top(profile / "lookup.raw", profile / "lookup.txt")
    finally:
        stop_group(server)
        for proc, _ in others.values():
            stop_group(proc)
    served = {name: sum(len(r["lat"]) for r in rs) for name, rs in runs.items()}
    cpu_ms = {name: 1000 * cpu[name] / max(served[name], 1) for name in cpu}
    pg_ms = {name: 1000 * pg_cpu[name] / max(served[name], 1) for name in cpu}
    client_ms = {name: 1000 * client_cpu[name] / max(served[name], 1) for name in cpu}
    return {
        "pg_ms": pg_ms,
        "client_ms": client_ms,
        "select": summary(sel),
        "api": summary(runs["api"]),
        "plain": summary(runs["plain"]),
        "cpu_ms": cpu_ms,
        "shapes": {name: summary(runs[name]) for name in others},
        "offered": offered,
        "open": {name: summary(rs) for name, rs in open_runs.items()},
    }


def cprofile_lookup(slug: str, rows: int, out: Path, count: int = 1000) -> None:
    """--cprofile-lookup: `count` look-ups of the API, then of the plain view, in this process through Django's test
    client (the whole middleware chain, no server), each under cProfile; prints CPU per request of both and the top
    functions of the API's, and dumps the API's pstats to `out` (the plain view's to `out`.plain)."""
    import cProfile
    import pstats

    from django.contrib.auth import get_user_model
    from django.test import Client

    from core.tokens import api_token_issue

    settings.ROOT_URLCONF = "bench.urls_members"
    with schema_context(slug):
        _, token = api_token_issue(user=get_user_model().objects.get(username="bench-hq"), name="profile")
    connection.close()
    client = Client(HTTP_HOST=f"{slug}.{settings.EKR_BASE_DOMAIN}", HTTP_AUTHORIZATION=f"Token {token}")
    rnd = random.Random(2)
    phones = [f"139{rnd.randrange(rows):08d}" for _ in range(count)]
    for path, dump in (("/api/v1/staff/members", out), ("/bench/plain/members", Path(f"{out}.plain"))):
        for phone in phones[:50]:  # warm-up
            assert client.get(path, {"phone": phone}).status_code == 200
        prof = cProfile.Profile(time.process_time)  # CPU, not the wait for PostgreSQL
        cpu0 = time.process_time()
        prof.enable()
        for phone in phones:
            response = client.get(path, {"phone": phone})
        prof.disable()
        cpu = time.process_time() - cpu0
        assert response.status_code == 200 and len(json.loads(response.content)["results"]) == 1
        prof.dump_stats(str(dump))
        print(
            f"{path}: {count} look-ups in process, {1e3 * cpu / count:.2f} ms CPU each under cProfile (its timer: process CPU); stats in {dump}"
        )
        if dump == out:
            stats = pstats.Stats(prof)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(45)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1, help="Celery worker processes for the import")
    parser.add_argument("--repeat", type=int, default=3, help="import rounds; the figures are their medians")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of both paths here")
    parser.add_argument("--only", choices=("import", "lookup"), help="run one of the two paths")
    parser.add_argument("--cprofile", type=Path, help="only profile one import in this process (pstats file)")
    parser.add_argument("--explain", action="store_true", help="only the CPU per row and one batch's EXPLAIN")
    parser.add_argument("--cprofile-lookup", type=Path, help="only profile 1,000 look-ups in this process (pstats)")
    parser.add_argument(
        "--servers",
        default="2x2",
        help="also serve the look-up API on gunicorns of these shapes, e.g. 4x2,1x8 (processes x threads); "
        "default 2x2, whose closed-loop p99 is reported beside the production shape's (2x4)",
    )
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    _owndb.reset_redis()
    from django.core.management import call_command

    call_command("bootstrap", verbosity=0)  # the brand template schema brand_create clones
    from tenants.services import brand_create

    slug = f"benchmembers{uuid.uuid4().hex[:6]}"
    brand_create(slug=slug, name="bench members", admin_username="bench-hq", admin_password=uuid.uuid4().hex)
    from members.services import card_level_create

    with schema_context(slug):  # tiers as a brand has them: every imported member gets the entry tier
        card_level_create(name="银卡", rank=1)
        card_level_create(name="金卡", rank=2, threshold_points=2000)
    connection.set_schema_to_public()
    content = make_csv(args.rows)
    print(
        f"database {DB_NAME}, brand {slug}; {args.rows} rows ({len(content) / 1e6:.1f} MB CSV), "
        f"{args.workers} import workers, {args.clients} clients, {args.seconds:.0f}s per look-up path; "
        f"{os.cpu_count()} CPUs shared by clients, servers and PostgreSQL",
        flush=True,
    )

    if args.cprofile:
        cprofile_import(slug, content, args.cprofile)
        return
    if args.explain:
        explain_import(slug, content, args.rows)
        return
    if args.cprofile_lookup:
        seed_members(slug, content)
        cprofile_lookup(slug, args.rows, args.cprofile_lookup)
        return
    if args.only != "lookup":
        imp = bench_import(slug, content, args.rows, args.workers, args.profile, args.repeat)
        n = len(imp["rounds"])
        each = ", ".join(str(round(r["import"])) for r in imp["rounds"])
        print(
            f"import   {args.rows} rows in {imp['import_s']:6.2f}s = {imp['import']:8.0f} rows/s ({args.workers} workers; "
            f"median of {n} rounds: {each})"
        )
        print(f"COPY     {imp['copy']:8.0f} rows/s (bare COPY of the same CSV into a plain table, median)")
        print(f"re-run   {imp['rerun']:8.0f} rows/s (the same file again: every row an update, median)")
        print(f"ratio    import / COPY = {imp['ratio']:.3f} (median of each round's ratio)", flush=True)
        rate = imp["import"]
        figure(
            f"member import, {args.rows} rows, median of {n}",
            measured=round(rate),
            aim=">= 50000",
            unit="rows/s",
            ok=rate >= 50000,
        )
        figure("member import vs COPY", measured=imp["ratio"], aim="(info)", unit="x COPY", ok=True)
    else:
        seed_members(slug, content)
    if args.only == "import":
        return
    shapes = [tuple(int(n) for n in shape.split("x")) for shape in args.servers.split(",") if shape]
    look = bench_lookup(slug, args.rows, args.clients, args.seconds, args.profile, shapes)
    print()
    for name, (rate, p50, p99, errors) in (
        ("API    GET /api/v1/staff/members?phone=", look["api"]),
        ("plain  Django view, same rows, ORM     ", look["plain"]),
        ("SELECT bare indexed phone_hash          ", look["select"]),
        *((f"{name:<39}", figures) for name, figures in look["shapes"].items()),
    ):
        print(f"{name} {rate:8.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  errors {errors}")
    ratio = look["api"][0] / look["plain"][0]
    print(f"ratio    API / plain view = {ratio:.3f}; API / bare SELECT = {look['api'][0] / look['select'][0]:.3f}")
    cpu_ms = look["cpu_ms"]
    print(
        f"server CPU per request (gunicorn, less sensitive to a busy machine): API {cpu_ms['api']:.2f} ms, "
        f"plain view {cpu_ms['plain']:.2f} ms; plain / API = {cpu_ms['plain'] / cpu_ms['api']:.3f}"
    )

    # Where a closed loop's latency comes from: every request costs CPU in the server, in PostgreSQL and in this
    # process's clients, all on the same cores; at saturation the rate is cores / that CPU, and each of the
    # --clients requests in flight waits its turn: mean latency = clients / rate (Little's law).
    cores = os.cpu_count() or 1
    print("CPU per request by process (ms): server / PostgreSQL / clients = total -> at most cores / total req/s")
    for name in ("api", "plain"):
        parts = (cpu_ms[name], look["pg_ms"][name], look["client_ms"][name])
        total = sum(parts)
        rate = look[name][0]
        print(
            f"  {name:<6} {parts[0]:.2f} / {parts[1]:.2f} / {parts[2]:.2f} = {total:.2f} -> at most "
            f"{1000 * cores / total:.0f} req/s on {cores} cores; served {rate:.0f}: mean latency "
            f"{args.clients} / {rate:.0f} = {1000 * args.clients / rate:.1f} ms (measured p50 {look[name][1]:.1f}, "
            f"p99 {look[name][2]:.1f})"
        )
    print(f"open loop at {look['offered']:.0f} req/s (half the plain view's closed-loop rate), {args.clients} clients:")
    for name, (rate, p50, p99, errors) in look["open"].items():
        print(f"  {name:<6} served {rate:6.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  errors {errors}")
    figure("staff phone look-up vs plain view", measured=ratio, aim=">= 0.8", unit="x", ok=ratio >= 0.8)
    p99, plain_p99 = look["api"][2], look["plain"][2]
    figure(
        f"staff phone look-up p99, closed loop, {args.clients} clients (plain view {plain_p99:.0f} ms)",
        measured=p99,
        aim="< 50",
        unit="ms",
        ok=p99 < 50,
    )
    for name, (_, _, shape_p99, _) in look["shapes"].items():
        figure(
            f"staff phone look-up p99, closed loop, {args.clients} clients, gunicorn {name.split()[-1]} (info: the "
            "production shape above is 2x4, whose threads overlap WeChat calls in requests)",
            measured=shape_p99,
            aim="(info)",
            unit="ms",
            ok=True,
        )
    open_p99, open_plain_p99 = look["open"]["api"][2], look["open"]["plain"][2]
    figure(
        f"staff phone look-up p99, open loop at {look['offered']:.0f} req/s = half the plain view's rate "
        f"(plain view {open_plain_p99:.0f} ms)",
        measured=open_p99,
        aim="< 50",
        unit="ms",
        ok=open_p99 < 50,
    )


if __name__ == "__main__":
    main()
