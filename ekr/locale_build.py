"""Compile the .po files in locale/ into .mo files: `python -m ekr.locale_build` (run by `make setup`).

Uses GNU msgfmt (Django's compilemessages) when it is installed, else the pure-Python polib, so a fresh machine
without gettext's tools still gets a Chinese console. A .mo newer than its .po is left alone.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCALE = ROOT / "locale"


def stale() -> list[Path]:
    """The .po files whose .mo is missing or older."""
    out = []
    for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            out.append(po)
    return out


def compile_all(*, quiet: bool = False) -> int:
    """Compile every stale .po; returns how many were compiled."""
    todo = stale()
    msgfmt = shutil.which("msgfmt")
    for po in todo:
        mo = po.with_suffix(".mo")
        if msgfmt:
            subprocess.run([msgfmt, "--check-format", "-o", str(mo), str(po)], check=True)
        else:
            import polib

            polib.pofile(str(po)).save_as_mofile(str(mo))
        if not quiet:
            print(f"compiled {po.relative_to(ROOT)} with {'msgfmt' if msgfmt else 'polib'}")
    return len(todo)


if __name__ == "__main__":
    compile_all(quiet="-q" in sys.argv)
