"""One line per figure a bench is judged by; `make bench` (bench/run_all.py) gathers them into one table.

    from _report import figure
    figure("points earn, 32 clients", measured=0.61, aim=">= 0.5", unit="x bare SQL", ok=0.61 >= 0.5)

Prints `FIGURE | path | measured unit | aim | ok/MISS` and, when EKR_BENCH_REPORT names a file, appends the same
as a JSON line to it.
"""

from __future__ import annotations

import json
import os
import sys


def figure(path: str, *, measured: float, aim: str, unit: str, ok: bool, bench: str | None = None) -> None:
    bench = bench or os.path.basename(sys.argv[0]).removesuffix(".py")
    shown = f"{measured:.3g}" if isinstance(measured, float) else str(measured)
    print(f"FIGURE | {bench} | {path} | {shown} {unit} | aim {aim} | {'ok' if ok else 'MISS'}", flush=True)
    target = os.environ.get("EKR_BENCH_REPORT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            row = {"bench": bench, "path": path, "measured": measured, "unit": unit, "aim": aim, "ok": bool(ok)}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
