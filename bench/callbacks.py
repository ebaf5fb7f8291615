"""Bench: WeChat callbacks accepted over HTTP, beside baselines on the same server, then processed by one worker.

    .venv/bin/python bench/callbacks.py  [--seconds 15] [--senders 16] [--worker-concurrency 1] [--workers 2]
                                         [--threads 8] [--no-drain] [--profile real|bare|plain|empty]

Uses its own database (<db>_bench_callbacks, recreated: bench/_owndb.py) and Redis db (EKR_BENCH_REDIS_DB, default
13, flushed); serves the app with gunicorn (2 processes x 8 threads, gthread) on 127.0.0.1; 16 concurrent senders
post encrypted (safe-mode) card events built with wechatpy, in alternating rounds with the same number of senders
posting to three baselines through the same middleware on the same server (bench/urls_callbacks.py):
- the bare view (the aim is against it): the essential work of a callback and nothing else -- accept the body,
  store it as one row of the inbox table with one SQL INSERT (autocommit: durable when it returns), answer;
- a plain Django view doing our work with nothing of ours (signature check, decryption with wechatpy, XML
  parsing, one ORM INSERT of the inbox row): the cost of our own layers;
- an empty view answering "success" without storing anything: the server's floor, for reference.
Then one Celery worker (prefork, concurrency 1 unless --worker-concurrency) drains the queued events: events per
second processed end to end (each handler run makes a member in the brand's schema). Bounded to ~2 minutes.

Profile of the server: `--profile real` runs py-spy on the gunicorn master and its workers after the rounds, while
the senders post to one side, and prints the top of the profile (GIL holders, own and inclusive):
    .venv/bin/py-spy record --pid <gunicorn master> --subprocesses --gil --rate 250 --format raw -o <file>
In-process (no server, no GIL contention), for one view's own CPU: cProfile.Profile(time.thread_time) around
calls of django.core.handlers.wsgi.WSGIHandler with a built environ.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
os.environ.update(EKR_LOG_LEVEL="WARNING", EKR_CALLBACK_HANDLER_MODULES="bench.callbacks_handlers")

import _owndb  # noqa: E402
from _http import free_port, group_cpu, start_gunicorn, stop_group  # noqa: E402

BENCH_DB = _owndb.use("callbacks", redis_db=13, fresh=True)

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from wechatpy.crypto import WeChatCrypto  # noqa: E402
from wechatpy.utils import WeChatSigner  # noqa: E402

ROUNDS = 5
SLUG = "benchcb"
APPID = "wxbench00000000cb"
TOKEN = "bench-token"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def log(message: str) -> None:
    print(message, flush=True)


def provision() -> None:
    from tenants.services import brand_create, wechat_app_add

    brand = brand_create(slug=SLUG, name="Callback bench")
    wechat_app_add(brand=brand, appid=APPID, secret="s", token=TOKEN, aes_key=AES_KEY)
    connection.set_schema_to_public()
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()


def request(port: int, method: str, path: str, body: bytes, conn: http.client.HTTPConnection | None = None):
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(
        method, path, body=body, headers={"Host": f"{SLUG}.{settings.EKR_BASE_DOMAIN}", "Content-Type": "text/xml"}
    )
    response = conn.getresponse()
    data = response.read()
    if own:
        conn.close()
    return response.status, data


def build_events(count: int, sender: int) -> list[tuple[str, bytes]]:
    """Safe-mode card events as WeChat sends them (each a new member and a new dedup key)."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
    events = []
    for n in range(count):
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        xml = (
            f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o{sender:02d}x{n:06d}"
            f"{uuid.uuid4().hex[:8]}]]></FromUserName><CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]>"
            f"</MsgType><Event><![CDATA[ekr_bench_card]]></Event><CardId><![CDATA[pBenchCard]]></CardId>"
            f"<UserCardCode><![CDATA[{n:012d}]]></UserCardCode></xml>"
        )
        envelope = crypto.encrypt_message(xml, nonce, ts)
        encrypt = envelope.split("<Encrypt><![CDATA[")[1].split("]]>")[0]
        msg_signature = envelope.split("<MsgSignature><![CDATA[")[1].split("]]>")[0]
        signer = WeChatSigner()
        signer.add_data(TOKEN, ts, nonce)
        path = (
            f"/wechat/callback/{APPID}/?signature={signer.signature}&timestamp={ts}&nonce={nonce}"
            f"&openid=o&encrypt_type=aes&msg_signature={msg_signature}"
        )
        body = f"<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
        events.append((path, body.encode()))
    return events


def build_plain(senders: int, per_sender: int) -> list[list[tuple[str, bytes]]]:
    """Events for the plain view: built like the real ones, from other openids (their own inbox rows)."""
    return [build_events(per_sender, 100 + i) for i in range(senders)]


def load(port: int, work: list, seconds: float) -> dict:
    """Each sender posts from its list (or iterator) in order over one keep-alive connection until time is up."""
    latencies: list[list[float]] = [[] for _ in work]
    failures = [0] * len(work)
    stop_at = [0.0]
    barrier = threading.Barrier(len(work) + 1)

    def sender(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        barrier.wait()
        for path, body in work[i]:
            if time.monotonic() >= stop_at[0]:
                break
            started = time.monotonic()
            try:
                status, data = request(port, "POST", path, body, conn)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                failures[i] += 1
                continue
            latencies[i].append(time.monotonic() - started)
            if status != 200 or data != b"success":
                failures[i] += 1
        conn.close()

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    started = time.monotonic()
    stop_at[0] = started + seconds
    barrier.wait()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    return {"elapsed": elapsed, "latencies": [x for per in latencies for x in per], "failed": sum(failures)}


def profile_server(server: subprocess.Popen, port: int, senders: list, seconds: float) -> None:
    """py-spy on the gunicorn master and its workers (GIL holders only) while `senders` post for `seconds`; prints
    the functions where the samples were (own) and the ones they were under (inclusive), as % of all samples."""
    out = ROOT / ".data" / "bench-callbacks-profile.txt"
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(server.pid),
            "--subprocesses",
            "--gil",
            "--rate",
            "250",
            "--format",
            "raw",
            "--duration",
            str(max(1, int(seconds))),
            "-o",
            str(out),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # py-spy attaches
    load(port, senders, seconds)
    spy.wait(timeout=60)
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1].split("/")[-1] for f in stack.split(";")[2:]]
        n = int(count)
        total += n
        if frames:
            own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    log(f"profile ({total} samples of GIL holders in the server; raw stacks in {out}):")
    for title, table in (("own", own), ("inclusive", inclusive)):
        log(f"  top by {title}:")
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:30]:
            log(f"    {100 * n / max(total, 1):5.1f}%  {frame}")


def summary(rounds: list[dict], cpu_seconds: float) -> dict:
    latencies = sorted(x for r in rounds for x in r["latencies"])
    failed = sum(r["failed"] for r in rounds)
    ok = len(latencies) - failed
    return {
        "ok": ok,
        "failed": failed,
        "per_s": ok / sum(r["elapsed"] for r in rounds),
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else 0,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0,
        "cpu_ms": 1000 * cpu_seconds / max(ok, 1),
    }


def drain_with_one_worker(expected: int, concurrency: int) -> dict:
    from django.db.models import Max, Min

    from callbacks.models import CallbackEvent

    log_path = ROOT / ".data" / "bench-callbacks-worker.log"
    log_path.parent.mkdir(exist_ok=True)
    with open(log_path, "wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "ekr",
                "worker",
                "--pool=prefork",
                f"--concurrency={concurrency}",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            cwd=ROOT,
            env=dict(os.environ),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 45
        rows = CallbackEvent.objects.filter(kind="event.ekr_bench_card")
        while time.monotonic() < deadline:
            if rows.filter(status="done").count() >= expected:
                break
            time.sleep(0.5)
        span = rows.filter(status="done").aggregate(first=Min("started_at"), last=Max("processed_at"))
        done = rows.filter(status="done").count()
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=20)
    seconds = (span["last"] - span["first"]).total_seconds() if done else float("nan")
    with connection.cursor() as cur:
        cur.execute(f'SELECT count(*) FROM "{SLUG}".members_member')
        members = cur.fetchone()[0]
    return {
        "done": done,
        "expected": expected,
        "seconds": seconds,
        "per_s": done / seconds if done else 0,
        "members": members,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--senders", type=int, default=16)
    parser.add_argument("--worker-concurrency", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per process")
    parser.add_argument("--no-drain", action="store_true", help="skip the worker's part")
    parser.add_argument(
        "--profile", choices=["empty", "bare", "plain", "real"], help="after the rounds, py-spy the server on one side"
    )
    args = parser.parse_args()
    t0 = time.monotonic()
    log(f"provisioning database {BENCH_DB} and brand {SLUG} ...")
    provision()
    port = free_port()
    server = start_gunicorn(port, "bench.settings_callbacks", workers=args.workers, threads=args.threads)
    try:
        per_sender = 2000
        log(f"building {args.senders} x {per_sender} encrypted events ...")
        work = [build_events(per_sender, i) for i in range(args.senders)]
        bare_work = [
            [(path.replace(f"/wechat/callback/{APPID}/", "/bench/bare/", 1), body) for path, body in events]
            for events in work
        ]
        empty_work = [itertools.repeat(("/bench/empty/", events[0][1])) for events in work]
        plain_work = [
            [(path.replace("/wechat/callback/", "/bench/plain/", 1), body) for path, body in events]
            for events in build_plain(args.senders, per_sender)
        ]
        # warm up every path (connections, imports, tenant cache); warm-up events are not counted
        load(port, [itertools.islice(w, 20) for w in empty_work], 1)
        load(port, [w[:20] for w in bare_work], 1)
        load(port, [w[:20] for w in plain_work], 1)
        load(port, [w[:20] for w in work], 1)
        work, plain_work, bare_work = ([w[20:] for w in ws] for ws in (work, plain_work, bare_work))
        from callbacks.models import CallbackEvent

        warm = CallbackEvent.objects.filter(kind="event.ekr_bench_card").count()
        log(
            f"{args.senders} concurrent senders, {args.seconds:.0f} s each in {ROUNDS} alternating rounds, gunicorn "
            f"gthread {args.workers} workers x {args.threads} threads, {os.cpu_count()} CPUs (senders on the same machine), load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        # alternate short rounds so that all three see the same background load of a shared machine
        iters = {
            "empty": [iter(w) for w in empty_work],
            "bare": [iter(w) for w in bare_work],
            "plain": [iter(w) for w in plain_work],
            "real": [iter(w) for w in work],
        }
        rounds = {side: [] for side in iters}
        cpu = dict.fromkeys(iters, 0.0)
        for _ in range(ROUNDS):
            for side, senders in iters.items():
                cpu0 = group_cpu(server)
                rounds[side].append(load(port, senders, args.seconds / ROUNDS))
                cpu[side] += group_cpu(server) - cpu0
        empty, bare, plain, real = (summary(rounds[side], cpu[side]) for side in ("empty", "bare", "plain", "real"))
        if args.profile:
            profile_server(server, port, iters[args.profile], args.seconds / ROUNDS * 2)
        handed_over_by = time.monotonic() + 20
        while CallbackEvent.objects.filter(status="received").exists() and time.monotonic() < handed_over_by:
            time.sleep(0.2)
    finally:
        stop_group(server)
    stored = CallbackEvent.objects.filter(kind="event.ekr_bench_card").count()
    rejected = CallbackEvent.objects.filter(status="rejected").count()
    for label, side in (("empty view (floor)", empty), ("bare view, SQL INSERT", bare), ("plain Django view", plain)):
        log(
            f"{label:<22}: {side['per_s']:8.0f} req/s   p50 {side['p50_ms']:6.1f} ms   "
            f"p99 {side['p99_ms']:6.1f} ms   failed {side['failed']}   server CPU {side['cpu_ms']:.2f} ms/req"
        )
    log(
        f"encrypted callbacks   : {real['per_s']:8.0f} req/s   p50 {real['p50_ms']:6.1f} ms   "
        f"p99 {real['p99_ms']:6.1f} ms   failed {real['failed']}   server CPU {real['cpu_ms']:.2f} ms/req   stored {stored - warm} (+{warm} warm-up),"
        f" rejected {rejected}"
    )
    log(
        f"ratio callbacks/bare  : {real['per_s'] / bare['per_s']:.2f} x throughput, "
        f"{real['p99_ms'] / bare['p99_ms']:.2f} x p99   (aim: >= 0.50 x; p99 < 50 ms)"
    )
    log(f"ratio callbacks/plain : {real['per_s'] / plain['per_s']:.2f} x throughput (the cost of our own layers)")
    log(
        f"ratio callbacks/empty : {real['per_s'] / empty['per_s']:.2f} x throughput (against a view that stores nothing)"
    )
    from _report import figure

    figure(
        "encrypted callbacks vs bare view",
        measured=real["per_s"] / bare["per_s"],
        aim=">= 0.5",
        unit="x",
        ok=real["per_s"] / bare["per_s"] >= 0.5,
    )
    figure(
        "encrypted callbacks vs plain Django view",
        measured=real["per_s"] / plain["per_s"],
        aim="(shown)",
        unit="x",
        ok=True,
    )
    figure(
        f"encrypted callbacks p99 at {args.senders} senders",
        measured=real["p99_ms"],
        aim="< 50",
        unit="ms",
        ok=real["p99_ms"] < 50,
    )
    if args.no_drain:
        return
    from callbacks.services import callbacks_sweep

    swept = sum(callbacks_sweep(received_after=0, batch=100_000).values())  # what beat's sweeper would queue
    log(
        f"draining {stored} stored events ({swept} queued by the sweeper, the rest by the receiver) with one "
        f"worker (prefork, concurrency {args.worker_concurrency}) ..."
    )
    drain = drain_with_one_worker(stored, args.worker_concurrency)
    log(
        f"processed end to end  : {drain['per_s']:8.0f} events/s   ({drain['done']}/{drain['expected']} done in "
        f"{drain['seconds']:.1f} s; {drain['members']} members created)"
    )
    log(
        f"ratio processed/accepted: {drain['per_s'] / real['per_s']:.2f}   total bench time "
        f"{time.monotonic() - t0:.0f} s"
    )


if __name__ == "__main__":
    main()
