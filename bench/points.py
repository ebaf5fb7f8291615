"""bench/points: earn and redeem operations per second through points.services, with 1, 8 and 32 concurrent
clients, beside the bare SQL they need (one conditional UPDATE and one INSERT in a transaction) measured in the
same run, with the same concurrency, on the same server; then the ledger's invariants are checked.

    DJANGO_SETTINGS_MODULE=ekr.settings.local .venv/bin/python bench/points.py [--seconds 4] [--rounds 4]
    DJANGO_SETTINGS_MODULE=ekr.settings.local .venv/bin/python bench/points.py --profile   # then stops

--profile: 1,000 earns and 1,000 redemptions on one member under cProfile (CPU time; top 25 by cumulative), and
EXPLAIN (ANALYZE, WAL, BUFFERS) of one points_credit and one points_debit call beside the bare UPDATE and INSERT
(WAL records are the steady measure of what a write costs on this busy machine; times are not).

--only earn:32 (repeatable; redeem:32:1 is the one-member line) runs chosen lines; --side ekr|bare one side of them.
The 32-client profile of the GIL (which Python holds it, and how often no thread does):

    DJANGO_SETTINGS_MODULE=ekr.settings.local .venv/bin/py-spy record --gil -r 200 -f raw -o /tmp/earn32.txt -- \
        .venv/bin/python bench/points.py --only earn:32 --only redeem:32 --side ekr --seconds 8

and of the PostgreSQL backends: `perf record -g -p <the pids pg_stat_activity shows for the bench database>`.

Each line also prints the CPU an op costs, in microseconds: this process (all its client threads: Python, psycopg2)
+ the clients' PostgreSQL backends (from /proc/<pid>/stat). Both sides share the machine's cores, so at 32 clients
the ratio is about the inverse ratio of these sums.

Fairness: on both sides each client is a thread with its own psycopg2 connection to the same server and schema,
and each op is one committed transaction (ekr: the ledger function's one statement, in autocommit; bare: BEGIN,
UPDATE, INSERT, COMMIT). The bare SQL is the floor, not the same rows: it writes no lot (earn) or lot use and lot
update (redeem), checks no idempotency key before writing, and checks one CHECK and one foreign key where the
ledger checks eight (earn) or nine (redeem) CHECKs and four foreign keys an op; at 32 clients its backend CPU is
about half the ledger's (the CPU column).

Runs in a database of its own (`<DATABASE_URL's name>_bench_points`, bench/_owndb.py), on a brand of
its own (`benchpoints<random>`), so it never touches the dev database. Each client is a thread with its own
connection; clients 0..N-1 work on members 0..N-1 (no two clients on one member), except the last line, where
all 32 race on ONE member (row-lock contention). Bounded: about 14 phases of --seconds each, plus set-up.

Each line's --seconds per side are cut into --rounds rounds, ekr and bare taking turns (the first side alternating),
and the ratio is of the totals: on a busy machine the load of other processes changes within seconds, and two
back-to-back phases of 4 s each measured that change as much as the code (ratios moved by 3x from run to run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CLIENTS = (1, 8, 32)
FUNDING = 10_000_000


BARE_TABLES = """
CREATE TABLE IF NOT EXISTS bench_bare_account (id bigint PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));
CREATE TABLE IF NOT EXISTS bench_bare_entry (
    id bigserial PRIMARY KEY, account_id bigint NOT NULL REFERENCES bench_bare_account,
    amount bigint NOT NULL, balance_after bigint NOT NULL, idempotency_key varchar(128) NOT NULL UNIQUE,
    created_at timestamptz NOT NULL);
"""
BARE_EARN = "UPDATE bench_bare_account SET balance = balance + %s WHERE id = %s RETURNING balance"
BARE_REDEEM = "UPDATE bench_bare_account SET balance = balance - %s WHERE id = %s AND balance >= %s RETURNING balance"
BARE_INSERT = (
    "INSERT INTO bench_bare_entry (account_id, amount, balance_after, idempotency_key, created_at) "
    "VALUES (%s, %s, %s, %s, now())"
)


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) the PostgreSQL backend `pid` has used so far; 0 where /proc cannot tell (the
    server on another machine, or another OS): the server column then reads 0."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat)


def run_clients(clients: int, seconds: float, make_client) -> tuple[float, list[float], int, float, float]:
    """Start `clients` threads together; each calls its op in a loop for `seconds`. Returns (elapsed seconds,
    latencies (one per op), failures, this process's CPU seconds, the clients' PostgreSQL backends' CPU seconds)."""
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    server_cpu = [0.0] * clients
    stop_at = [0.0]

    def work(index: int) -> None:
        try:
            op, close, backend_pid = make_client(index)
        except BaseException:  # e.g. no connection left on the server: the others must not wait for this one
            barrier.abort()
            raise
        try:
            cpu_before = backend_cpu(backend_pid)
            barrier.wait()
            mine = latencies[index]
            n = 0
            while True:
                started = time.perf_counter()
                if started >= stop_at[0]:
                    break
                try:
                    op(n)
                except Exception as exc:  # counted and reported; the invariants decide pass or fail
                    failures[index] += 1
                    if failures[index] == 1:
                        print(f"    client {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
                mine.append(time.perf_counter() - started)
                n += 1
            server_cpu[index] = backend_cpu(backend_pid) - cpu_before
        finally:
            close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds + 0.05
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        for thread in threads:
            thread.join()
        raise RuntimeError("a client could not start (its error is above)") from None
    started, cpu_started = time.perf_counter(), time.process_time()
    for thread in threads:
        thread.join()
    elapsed, client_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    flat = [x for per in latencies for x in per]
    return elapsed, flat, sum(failures), client_cpu, sum(server_cpu)


def _backend_pid(cursor) -> int:
    cursor.execute("SELECT pg_backend_pid()")
    return cursor.fetchone()[0]


def ekr_client_factory(brand, members, op_name: str, run_id: str, shared_member: bool):
    from django.db import connection

    from points.services import points_earn, points_redeem

    def make(index: int):
        connection.set_tenant(brand)
        with connection.cursor() as cursor:
            backend_pid = _backend_pid(cursor)
        member = members[0] if shared_member else members[index]
        prefix = f"{run_id}:{op_name}:{index}:"
        if op_name == "earn":

            def op(n: int) -> None:
                points_earn(
                    member=member,
                    points=10,
                    idempotency_key=prefix + str(n),
                    reason="bench order",
                    reference=f"o{index}-{n}",
                )
        else:

            def op(n: int) -> None:
                points_redeem(member=member, points=1, idempotency_key=prefix + str(n), reason="bench coupon")

        return op, connection.close, backend_pid

    return make


def bare_client_factory(dsn: dict, schema: str, op_name: str, run_id: str, shared_member: bool):
    import psycopg2

    def make(index: int):
        conn = psycopg2.connect(**dsn)
        with conn.cursor() as cursor:
            cursor.execute(f'SET search_path = "{schema}"')
            backend_pid = _backend_pid(cursor)
        conn.commit()
        account = 0 if shared_member else index
        prefix = f"{run_id}:{op_name}:{index}:"

        def op(n: int) -> None:
            with conn.cursor() as cursor:  # psycopg2 opens the transaction (BEGIN) with the first statement
                if op_name == "earn":
                    cursor.execute(BARE_EARN, [10, account])
                    amount = 10
                else:
                    cursor.execute(BARE_REDEEM, [1, account, 1])
                    amount = -1
                row = cursor.fetchone()
                if row is None:
                    conn.rollback()
                    raise RuntimeError("insufficient")
                cursor.execute(BARE_INSERT, [account, amount, row[0], prefix + str(n)])
            conn.commit()

        return op, conn.close, backend_pid

    return make


def setup(seconds: float):
    import _owndb

    _owndb.use("points", redis_db=5)
    from django.conf import settings
    from django.db import connection

    from members.models import Member
    from points.services import points_earn
    from tenants.services import brand_create

    print(f"database {settings.DATABASES['default']['NAME']}", flush=True)
    slug = f"benchpoints{uuid.uuid4().hex[:6]}"
    brand = brand_create(slug=slug, name="bench points")
    connection.set_tenant(brand)
    members = [Member.objects.create(openid=f"bench-{i}") for i in range(max(CLIENTS))]
    for member in members:
        points_earn(member=member, points=FUNDING, idempotency_key=f"fund-{member.pk}", reason="bench funding")
    with connection.cursor() as cursor:
        cursor.execute(BARE_TABLES)
        cursor.executemany(
            "INSERT INTO bench_bare_account (id, balance) VALUES (%s, %s)", [(i, FUNDING) for i in range(max(CLIENTS))]
        )
    db = settings.DATABASES["default"]
    dsn = {
        k: v
        for k, v in {
            "dbname": db["NAME"],
            "user": db.get("USER"),
            "password": db.get("PASSWORD"),
            "host": db.get("HOST"),
            "port": db.get("PORT"),
        }.items()
        if v
    }
    connection.set_schema_to_public()
    return brand, members, dsn


def profile(brand, members, run_id: str, n: int = 1000) -> None:
    """cProfile (CPU time) of `n` earns and `n` redemptions on one member, then EXPLAIN of each SQL function."""
    import cProfile
    import pstats

    from django.db import connection

    from points.services import points_earn, points_redeem

    connection.set_tenant(brand)
    member = members[0]

    def ops(tag: str, count: int) -> None:
        for i in range(count):
            points_earn(
                member=member, points=10, idempotency_key=f"{run_id}{tag}e{i}", reason="bench order", reference=f"o{i}"
            )
        for i in range(count):
            points_redeem(member=member, points=1, idempotency_key=f"{run_id}{tag}r{i}", reason="bench coupon")

    ops("warm", 100)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    ops("prof", n)
    profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    statements = [
        (
            "points_credit",
            "SELECT * FROM points_credit(%s, 'earn', 10, %s, %s, 'o-x', 'bench order', NULL, now(), NULL, true, 60)",
            [member.pk, f"{run_id}x-e", "f" * 64],
        ),
        (
            "points_debit",
            "SELECT * FROM points_debit(%s, 'redeem', 1, %s, %s, '', 'bench coupon', NULL, now())",
            [member.pk, f"{run_id}x-r", "f" * 64],
        ),
        ("bare UPDATE", BARE_EARN, [10, 0]),
        ("bare INSERT", BARE_INSERT, [0, 10, 1, f"{run_id}x-b"]),
    ]
    with connection.cursor() as cursor:
        for label, sql, params in statements:
            cursor.execute(sql, params)  # once to plan, then explained
            params = [f"{p}-2" if isinstance(p, str) and p.startswith(run_id) else p for p in params]
            cursor.execute("EXPLAIN (ANALYZE, WAL, BUFFERS, COSTS OFF) " + sql, params)
            lines = [row[0].strip() for row in cursor.fetchall()]
            print(f"{label:<14}", " | ".join(x for x in lines if x.startswith(("WAL", "Buffers", "Execution"))))
    connection.set_schema_to_public()


def invariants_check(brand, members) -> tuple[list[str], int]:
    from django.db import connection
    from django.db.models import Sum

    from points.models import PointsAccount, PointsEntry, PointsLot, PointsLotUse

    connection.set_tenant(brand)
    problems = []
    for member in members:
        balance = PointsAccount.objects.get(member=member).balance
        entries = PointsEntry.objects.filter(member=member).aggregate(s=Sum("amount"))["s"] or 0
        lots = PointsLot.objects.filter(account__member=member).aggregate(s=Sum("remaining"))["s"] or 0
        if not (balance >= 0 and balance == entries == lots):
            problems.append(f"member {member.pk}: balance {balance}, entries {entries}, lots {lots}")
    debits = -(PointsEntry.objects.filter(amount__lt=0).aggregate(s=Sum("amount"))["s"] or 0)
    used = PointsLotUse.objects.aggregate(s=Sum("amount"))["s"] or 0
    if debits != used:
        problems.append(f"debits {debits} != lot uses {used}")
    keys = PointsEntry.objects.count()
    distinct = PointsEntry.objects.values("idempotency_key").distinct().count()
    if keys != distinct:
        problems.append("duplicate idempotency keys")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_bare_account WHERE balance < 0")
        if cursor.fetchone()[0]:
            problems.append("bare: negative balance")
    connection.set_schema_to_public()
    return problems, keys


def _per_op(cpu: list[float], latencies: list[float]) -> str:
    """'client+server' CPU microseconds an op: this process (all its threads) and the clients' backends."""
    if not latencies:
        return "-"
    return "+".join(f"{seconds / len(latencies) * 1e6:.0f}" for seconds in cpu)


def _p99(latencies: list[float]) -> float:
    if not latencies:
        return float("nan")
    return (statistics.quantiles(latencies, n=100)[98] if len(latencies) > 100 else max(latencies)) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each measured phase")
    parser.add_argument("--rounds", type=int, default=4, help="rounds each phase is cut into, the sides alternating")
    parser.add_argument("--profile", action="store_true", help="cProfile and EXPLAIN of one client, then stop")
    parser.add_argument(
        "--only",
        action="append",
        metavar="OP:CLIENTS[:1]",
        help="run only this line (e.g. earn:32, or redeem:32:1 for 32 clients on one member); repeatable",
    )
    parser.add_argument(
        "--side",
        choices=("both", "ekr", "bare"),
        default="both",
        help="measure one side only (to profile it, e.g. under py-spy); no ratio is printed then",
    )
    args = parser.parse_args()
    wall = time.perf_counter()
    brand, members, dsn = setup(args.seconds)
    run_id = uuid.uuid4().hex[:8]
    if args.profile:
        profile(brand, members, run_id)
        return 0
    print(
        f"brand {brand.schema_name}, {len(members)} members funded with {FUNDING} points; "
        f"{args.seconds:.0f} s per phase and side, in {args.rounds} alternating rounds\n",
        flush=True,
    )

    plan = [(op, clients, False) for clients in CLIENTS for op in ("earn", "redeem")] + [("redeem", 32, True)]
    if args.only:
        wanted = {tuple(x.split(":")) for x in args.only}
        plan = [line for line in plan if (line[0], str(line[1])) + (("1",) if line[2] else ()) in wanted]
    header = (
        f"{'operation':<8} {'clients':>7} {'members':>7} {'ekr ops/s':>10} {'bare ops/s':>11} "
        f"{'ratio':>6} {'ekr p50 ms':>11} {'ekr p99 ms':>11} {'bare p99 ms':>12} {'failed':>6} "
        f"{'CPU us/op: ekr py+pg':>21} {'bare py+pg':>11}"
    )
    print(header)
    print("-" * len(header))
    ratios = []
    for op_name, clients, shared in plan:
        results = {"ekr": [0.0, [], 0, 0.0, 0.0], "bare": [0.0, [], 0, 0.0, 0.0]}
        for round_no in range(args.rounds):
            # alternate which side goes first so neither always runs on a warmer cache or a quieter machine
            sides = ["ekr", "bare"] if (len(ratios) + round_no) % 2 == 0 else ["bare", "ekr"]
            for side in sides:
                if args.side not in ("both", side):
                    continue
                tag = f"{run_id}-{side}-{clients}-{int(shared)}-{round_no}"
                if side == "ekr":
                    factory = ekr_client_factory(brand, members, op_name, tag, shared)
                else:
                    factory = bare_client_factory(dsn, brand.schema_name, op_name, tag, shared)
                for i, value in enumerate(run_clients(clients, args.seconds / args.rounds, factory)):
                    results[side][i] += value
        (ekr_time, ekr_lat, ekr_failed, *ekr_cpu), (bare_time, bare_lat, _, *bare_cpu) = results["ekr"], results["bare"]
        ekr_rate = len(ekr_lat) / ekr_time if ekr_time else float("nan")
        bare_rate = len(bare_lat) / bare_time if bare_time else float("nan")
        ratio = ekr_rate / bare_rate if bare_rate else float("nan")
        ratios.append(ratio)
        p50, p99, bare_p99 = (
            (statistics.median(ekr_lat) * 1000 if ekr_lat else float("nan")),
            _p99(ekr_lat),
            _p99(bare_lat),
        )
        print(
            f"{op_name:<8} {clients:>7} {1 if shared else clients:>7} {ekr_rate:>10.0f} {bare_rate:>11.0f} "
            f"{ratio:>6.2f} {p50:>11.2f} {p99:>11.2f} {bare_p99:>12.2f} {ekr_failed:>6} "
            f"{_per_op(ekr_cpu, ekr_lat):>21} {_per_op(bare_cpu, bare_lat):>11}",
            flush=True,
        )

    problems, entries = invariants_check(brand, members)
    if args.only or args.side != "both":
        print(f"partial run: no figure. invariants over {entries} entries: {problems or 'OK'}")
        return 1 if problems else 0
    from _report import figure

    figure(
        "points earn/redeem vs bare SQL, worst client count",
        measured=min(ratios),
        aim=">= 0.5",
        unit="x",
        ok=min(ratios) >= 0.5,
    )
    print(f"\nratio ekr/bare: min {min(ratios):.2f}, median {statistics.median(ratios):.2f} (aim: >= 0.50)")
    print(
        f"invariants over {entries} entries (balance >= 0, balance == sum(entries) == sum(lot remaining), "
        f"debits == lot uses, keys unique): {'OK' if not problems else 'FAILED'}"
    )
    for problem in problems:
        print("  " + problem)
    print(f"total {time.perf_counter() - wall:.0f} s")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
