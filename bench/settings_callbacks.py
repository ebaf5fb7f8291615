"""Bench-only settings: the production stack plus one bare view (bench/urls_callbacks.py) to compare with."""

from ekr.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls_callbacks"
