"""Bench-only settings: the production stack plus plain Django views of the member reads (bench/urls_reads.py)."""

from ekr.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls_reads"
