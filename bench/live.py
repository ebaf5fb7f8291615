"""Bench: a simulated live show — audience events acknowledged per second and p99, beside a bare Redis INCR/PFADD
baseline in the same run; the fold into PostgreSQL; and the time to issue post-show coupons to 50,000 viewers.

    .venv/bin/python bench/live.py  [--viewers 5000] [--show-seconds 120] [--threads 16] [--seconds 20]
                                    [--coupon-viewers 50000] [--http]

The show: every viewer enters in the first minute, sends a heartbeat every 15 s; a third of the heartbeats carry
a burst of likes (1-20), one in twenty a comment, one in fifty a product click. The requests are replayed in show
order, as fast as `--threads` senders can, for at most `--seconds`:
- ekr: `events_ingest` (validation, encoding, the Lua script: rate counter, stream append, HyperLogLog, counters,
  presence, viewer key) per request — the whole hot path below the HTTP layer;
- baseline: per request, a pipelined INCR + PFADD on the same Redis from the same threads (the cheapest thing
  that still counts and dedups viewers).
With --http, the same requests also go through gunicorn (2 processes x 8 threads) to the real endpoint, with
session tokens: the full price of a request including Django, auth and JSON.
Then the fold (stream -> LiveViewer rows) is timed, and post-show coupons are issued to `--coupon-viewers` members
who watched (one template, batches of EKR_LIVE_COUPON_BATCH, the same step the worker runs), beside a bare
INSERT ... SELECT of as many coupons in one statement.

Uses its own database (<db>_bench_live, recreated) and Redis db (EKR_BENCH_REDIS_DB, default 14, flushed). The
machine may be busy: read ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")

from ekr.devservices import load_service_env  # noqa: E402

load_service_env(ROOT)
_db = urlparse(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ekr"))
BENCH_DB = _db.path.lstrip("/") + os.environ.get("EKR_BENCH_DB_SUFFIX", "_bench_live")
os.environ["DATABASE_URL"] = _db._replace(path="/" + BENCH_DB).geturl()
_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ["REDIS_URL"] = _redis.rsplit("/", 1)[0] + "/" + os.environ.get("EKR_BENCH_REDIS_DB", "14")
os.environ.pop("CELERY_BROKER_URL", None)
os.environ.update(DJANGO_DEBUG="0", EKR_LOG_LEVEL="WARNING", EKR_LIVE_REQUESTS_PER_MINUTE="100000")

import django  # noqa: E402

django.setup()

import psycopg2  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django_tenants.utils import schema_context  # noqa: E402

SLUG = "benchlive"
APPID = "wxbenchlive000001"


def log(message: str) -> None:
    print(message, flush=True)


def recreate_database() -> None:
    db = settings.DATABASES["default"]
    params = {
        "dbname": "postgres",
        "user": db.get("USER") or "postgres",
        "password": db.get("PASSWORD") or "",
        "host": db.get("HOST") or "",
        "port": db.get("PORT") or "",
    }
    conn = psycopg2.connect(**{k: v for k, v in params.items() if v != ""})
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [BENCH_DB])
        cur.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}"')
        cur.execute(f'CREATE DATABASE "{BENCH_DB}"')
    conn.close()


def provision():
    from core.redis_client import redis_client
    from tenants.services import brand_create, wechat_app_add

    recreate_database()
    connection.close()
    call_command("bootstrap", verbosity=0)
    brand = brand_create(slug=SLUG, name="Live bench")
    wechat_app_add(brand=brand, appid=APPID, secret="s", token="t", aes_key="k" * 43)
    connection.set_schema_to_public()
    redis_client().flushdb()
    return brand


def make_room(schema: str) -> int:
    from django.utils import timezone

    from livestream.models import LiveRoom, LiveRoomStats

    with schema_context(schema):
        now = timezone.now()
        room = LiveRoom.objects.create(
            source="external",
            name="Bench show",
            external_url="https://example.com/l",
            start_at=now,
            end_at=now + dt.timedelta(hours=2),
            status="live",
            started_at=now,
        )
        LiveRoomStats.objects.create(room=room)
        return room.pk


def show_requests(viewers: int, show_seconds: int, seed: int = 7) -> list[tuple[float, str, list[dict]]]:
    """(show time, openid, events) in show order."""
    rng = random.Random(seed)
    requests = []
    for v in range(viewers):
        openid = f"o-bench-{v:06d}"
        t = rng.uniform(0, 60)
        requests.append((t, openid, [{"type": "enter"}]))
        t += 15
        while t < show_seconds:
            events: list[dict] = [{"type": "heartbeat"}]
            if rng.random() < 1 / 3:
                events.append({"type": "like", "count": rng.randint(1, 20)})
            if rng.random() < 1 / 20:
                events.append({"type": "comment"})
            if rng.random() < 1 / 50:
                events.append({"type": "product_click", "goods_id": rng.randint(1, 30)})
            requests.append((t, openid, events))
            t += 15
    requests.sort(key=lambda r: r[0])
    return requests


def run_threads(work: list, threads: int, seconds: float, call) -> dict:
    """Senders take requests in order from a shared cursor until the list or the time runs out."""
    cursor = [0]
    lock = threading.Lock()
    latencies: list[list[float]] = [[] for _ in range(threads)]
    events = [0] * threads
    failures = [0] * threads
    barrier = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def sender(i: int) -> None:
        state = {}
        barrier.wait()
        while True:
            with lock:
                n = cursor[0]
                cursor[0] += 1
            if n >= len(work) or time.monotonic() >= stop_at[0]:
                return
            started = time.perf_counter()
            try:
                ok = call(work[n], state)
            except Exception:
                ok = False
            latencies[i].append(time.perf_counter() - started)
            if ok:
                events[i] += len(work[n][2])
            else:
                failures[i] += 1

    pool = [threading.Thread(target=sender, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    started = time.monotonic()
    stop_at[0] = started + seconds
    barrier.wait()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - started
    flat = sorted(x for per in latencies for x in per)
    p99 = flat[min(len(flat) - 1, int(len(flat) * 0.99))] if flat else 0.0
    return {
        "elapsed": elapsed,
        "requests": len(flat),
        "events": sum(events),
        "failed": sum(failures),
        "events_per_s": sum(events) / elapsed,
        "p99_ms": p99 * 1000,
    }


def bench_service(schema: str, room_id: int, work: list, threads: int, seconds: float) -> dict:
    from livestream.services.audience import events_ingest

    def call(item, state) -> bool:
        if "ready" not in state:
            connection.set_schema(schema)  # this thread's connection; no query
            state["ready"] = True
        events_ingest(room_id=room_id, openid=item[1], events=item[2])
        return True

    return run_threads(work, threads, seconds, call)


def bench_baseline(schema: str, room_id: int, work: list, threads: int, seconds: float) -> dict:
    from core.redis_client import redis_client

    client = redis_client()

    def call(item, state) -> bool:
        pipe = client.pipeline(transaction=False)
        pipe.incr(f"ekr:{schema}:bench:{room_id}:events", len(item[2]))
        pipe.pfadd(f"ekr:{schema}:bench:{room_id}:uv", item[1])
        pipe.execute()
        return True

    return run_threads(work, threads, seconds, call)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_http(schema: str, room_id: int, work: list, threads: int, seconds: float) -> dict:
    from members.mp_auth import member_token_issue

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "ekr.wsgi",
            "-k",
            "gthread",
            "-w",
            "2",
            "--threads",
            "8",
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--backlog",
            "512",
        ],
        cwd=ROOT,
        env=dict(os.environ),
        start_new_session=True,
    )
    tokens: dict[str, str] = {}
    host = f"{SLUG}.{settings.EKR_BASE_DOMAIN}"
    path = f"/api/v1/mp/live/rooms/{room_id}/events"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/health", headers={"Host": host})
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

        def call(item, state) -> bool:
            token = tokens.get(item[1])
            if token is None:
                token = tokens[item[1]] = member_token_issue(schema=schema, appid=APPID, openid=item[1])
            conn = state.get("conn") or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            state["conn"] = conn
            try:
                conn.request(
                    "POST",
                    path,
                    body=json.dumps({"events": item[2]}),
                    headers={"Host": host, "Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                )
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                state.pop("conn", None)
                return False
            return response.status == 202

        return run_threads(work, threads, seconds, call)
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=15)


def bench_fold(schema: str, room_id: int) -> dict:
    from core.redis_client import redis_client
    from livestream.models import LiveViewer
    from livestream.services.audience import keys, room_fold

    with schema_context(schema):
        pending = redis_client().xlen(keys(schema, room_id)["stream"])
        started = time.monotonic()
        folded = room_fold(room_id=room_id)
        elapsed = time.monotonic() - started
        viewers = LiveViewer.objects.filter(room_id=room_id).count()
    return {
        "pending": pending,
        "folded": folded,
        "elapsed": elapsed,
        "viewers": viewers,
        "entries_per_s": folded / elapsed if elapsed else 0.0,
    }


def bench_coupons(schema: str, count: int) -> dict:
    from django.utils import timezone

    from livestream.models import LiveRoom, LiveRoomStats, LiveViewer
    from livestream.services.coupons import post_show_coupons_step
    from members.models import Member
    from miniprograms.models import Coupon, CouponTemplate

    with schema_context(schema):
        now = timezone.now()
        template = CouponTemplate.objects.create(
            name="Post-show", kind="amount_off", amount_off_fen=1000, total_stock=count * 3, claimable=False
        )
        room = LiveRoom.objects.create(
            source="external",
            name="Ended bench show",
            external_url="https://e.x/l",
            start_at=now - dt.timedelta(hours=2),
            end_at=now,
            status="ended",
            started_at=now - dt.timedelta(hours=2),
            ended_at=now,
            coupon_state="issuing",
        )
        LiveRoomStats.objects.create(room=room)
        room.coupon_templates.set([template])
        log(f"  making {count} members and viewers ...")
        members = Member.objects.bulk_create([Member(openid=f"o-cpn-{i:06d}") for i in range(count)], batch_size=5000)
        LiveViewer.objects.bulk_create(
            [
                LiveViewer(
                    room=room,
                    openid=m.openid,
                    member=m,
                    was_member=True,
                    first_seen_at=now,
                    last_seen_at=now,
                    watch_seconds=600,
                )
                for m in members
            ],
            batch_size=5000,
        )
        started = time.monotonic()
        runs = 0
        while post_show_coupons_step(room_id=room.pk) == "issuing":  # what each worker task run does
            runs += 1
        elapsed = time.monotonic() - started
        issued = Coupon.objects.filter(issue_key=f"live:{room.pk}").count()

        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {Coupon._meta.db_table} (template_id, member_id, status, source, issue_key,
                                   valid_until, created_at)
                               SELECT %s, member_id, 'available', 'auto', 'bare', %s, now()
                               FROM {LiveViewer._meta.db_table} WHERE room_id = %s""",
                [template.pk, now + dt.timedelta(hours=72), room.pk],
            )
        bare = time.monotonic() - started
    return {"issued": issued, "elapsed": elapsed, "task_runs": runs + 1, "bare": bare}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=5000)
    parser.add_argument("--show-seconds", type=int, default=120)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--coupon-viewers", type=int, default=50000)
    parser.add_argument("--http", action="store_true")
    args = parser.parse_args()

    log(
        f"live bench: {args.viewers} viewers, {args.show_seconds} s of show, {args.threads} threads, "
        f"at most {args.seconds} s per measurement"
    )
    brand = provision()
    schema = brand.schema_name
    work = show_requests(args.viewers, args.show_seconds)
    log(f"  {len(work)} requests, {sum(len(w[2]) for w in work)} events")

    base_room = make_room(schema)
    baseline = bench_baseline(schema, base_room, work, args.threads, args.seconds)
    room_id = make_room(schema)
    ekr = bench_service(schema, room_id, work, args.threads, args.seconds)
    connection.set_schema_to_public()
    for name, r in (("baseline INCR+PFADD", baseline), ("ekr events_ingest", ekr)):
        log(
            f"  {name:22s} {r['events_per_s']:9.0f} events/s  p99 {r['p99_ms']:6.2f} ms  "
            f"({r['requests']} requests, {r['failed']} failed, {r['elapsed']:.1f} s)"
        )
    log(
        f"  ratio ekr/baseline: {ekr['events_per_s'] / baseline['events_per_s']:.2f}x (aim >= 0.3x), "
        f"p99 {ekr['p99_ms']:.1f} ms (aim < 50 ms)"
    )
    if args.http:
        http_room = make_room(schema)
        via_http = bench_http(schema, http_room, work, args.threads, args.seconds)
        log(
            f"  {'ekr over HTTP':22s} {via_http['events_per_s']:9.0f} events/s  p99 {via_http['p99_ms']:6.2f} ms  "
            f"({via_http['requests']} requests, {via_http['failed']} failed) = "
            f"{via_http['events_per_s'] / baseline['events_per_s']:.2f}x baseline"
        )
    fold = bench_fold(schema, room_id)
    log(
        f"  fold: {fold['folded']} stream entries -> {fold['viewers']} viewer rows in {fold['elapsed']:.2f} s "
        f"({fold['entries_per_s']:.0f} entries/s; the show produces "
        f"{len(work) / args.show_seconds:.0f} a second)"
    )
    coupons = bench_coupons(schema, args.coupon_viewers)
    log(
        f"  post-show coupons: {coupons['issued']} issued in {coupons['elapsed']:.2f} s over {coupons['task_runs']} "
        f"task runs ({coupons['issued'] / coupons['elapsed']:.0f}/s); bare INSERT ... SELECT of as many: "
        f"{coupons['bare']:.2f} s"
    )


if __name__ == "__main__":
    main()
