"""Bench-only settings for bench/members.py: the production stack plus the plain view (bench/urls_members.py)."""

from ekr.settings.local import *  # noqa: F403

ROOT_URLCONF = "bench.urls_members"
