"""Runs every bench script in turn (make bench), then prints one table of the figures they report.

    .venv/bin/python bench/run_all.py [name ...]     # e.g. `bench/run_all.py points callbacks`

Each bench reports its judged figures through bench/_report.figure(); they are gathered here from a temporary file.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

here = Path(__file__).resolve().parent
only = set(sys.argv[1:])
scripts = [
    s
    for s in sorted(here.glob("*.py"))
    if not s.name.startswith("_")
    and s.name != "run_all.py"
    and not s.name.startswith(("settings_", "urls_", "callbacks_handlers"))
    and (not only or s.stem in only)
]
with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as report:
    env = dict(os.environ, EKR_BENCH_REPORT=report.name)
    failed = []
    for script in scripts:
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], env=env, check=False).returncode:
            failed.append(script.name)
    rows = [json.loads(line) for line in Path(report.name).read_text(encoding="utf-8").splitlines() if line]

print("\n| bench | figure | measured | aim | |\n| --- | --- | --- | --- | --- |")
for row in rows:
    measured = row["measured"]
    shown = f"{measured:.3g}" if isinstance(measured, float) else measured
    print(
        f"| {row['bench']} | {row['path']} | {shown} {row['unit']} | {row['aim']} | {'ok' if row['ok'] else 'MISS'} |"
    )
if failed:
    print("\nbenches that failed to run: " + ", ".join(failed))
    sys.exit(1)
