"""Shared set-up for bench scripts: Django on the local settings (embedded services when unset)."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ekr.settings.local")
os.environ.setdefault("EKR_LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()
