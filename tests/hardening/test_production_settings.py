"""Defect 8: production settings are strict, and every entry point refuses the development key or DEBUG
outside local development."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINTS = {
    "wsgi": [sys.executable, "-c", "import ekr.wsgi"],
    "asgi": [sys.executable, "-c", "import ekr.asgi"],
    "manage.py": [sys.executable, "manage.py", "check"],
    "celery worker and beat": [sys.executable, "-m", "celery", "-A", "ekr", "report"],
}


def _run(cmd, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EKR_BASE", "EKR_FIELD"))}
    return subprocess.run(cmd, cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_a_forgotten_settings_module_does_not_serve_a_real_domain(entry):
    # DJANGO_SETTINGS_MODULE unset: the local settings and the public development key
    result = _run(ENTRY_POINTS[entry], EKR_BASE_DOMAIN="shop.example.com")
    assert result.returncode != 0, result.stdout
    assert "Refusing to start" in result.stderr and "development DJANGO_SECRET_KEY" in result.stderr


def test_debug_with_a_real_key_is_refused_too():
    result = _run(
        ENTRY_POINTS["wsgi"],
        EKR_BASE_DOMAIN="shop.example.com",
        DJANGO_DEBUG="true",
        DJANGO_SECRET_KEY="x" * 50,
        EKR_FIELD_KEY="y" * 50,
    )
    assert result.returncode != 0 and "DEBUG" in result.stderr


def test_local_development_still_starts():
    result = _run(ENTRY_POINTS["wsgi"], EKR_BASE_DOMAIN="localhost")
    assert result.returncode == 0, result.stderr


def test_production_settings_are_strict():
    code = (
        "from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, "
        "s.SESSION_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER)"
    )
    base = dict(
        DJANGO_SETTINGS_MODULE="ekr.settings.production",
        DJANGO_SECRET_KEY="x" * 50,
        EKR_FIELD_KEY="y" * 50,
        EKR_BASE_DOMAIN="shop.example.com",
    )
    direct = _run([sys.executable, "-c", code], **base)
    assert direct.returncode == 0, direct.stderr
    assert direct.stdout.split() == ["True", "31536000", "True", "True", "None"]
    proxied = _run([sys.executable, "-c", code], EKR_TRUSTED_PROXY_HEADER="HTTP_X_FORWARDED_FOR", **base)
    assert "HTTP_X_FORWARDED_PROTO" in proxied.stdout
    refused = _run([sys.executable, "-c", code], **{**base, "DJANGO_SECRET_KEY": ""})
    assert refused.returncode != 0
