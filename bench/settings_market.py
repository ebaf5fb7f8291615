"""Bench-only settings for bench/market.py: the production stack plus a plain Django view to compare with."""

from ekr.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls_market"
