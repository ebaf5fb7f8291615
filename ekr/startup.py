"""Refuse to serve with development settings outside local development.

wsgi, asgi, the Celery worker and beat, and manage.py call `refuse_unsafe_start()` once settings are loaded: a
forgotten DJANGO_SETTINGS_MODULE falls back to `ekr.settings.local`, whose secret key is public (anyone could
forge member tokens with it). Local development means the base domain is localhost (or *.localhost).
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

DEV_KEY_PREFIX = "dev-insecure"


def local_development(settings) -> bool:
    domain = (settings.EKR_BASE_DOMAIN or "").split(":")[0].lower()
    return domain in ("localhost", "127.0.0.1", "::1") or domain.endswith(".localhost")


def unsafe_settings(settings) -> list[str]:
    """What makes these settings unfit outside local development."""
    problems = []
    if settings.SECRET_KEY.startswith(DEV_KEY_PREFIX):
        problems.append("the development DJANGO_SECRET_KEY")
    if settings.EKR_FIELD_KEY.startswith(DEV_KEY_PREFIX):
        problems.append("the development EKR_FIELD_KEY")
    if settings.DEBUG:
        problems.append("DEBUG")
    return problems


def refuse_unsafe_start() -> None:
    from django.conf import settings

    problems = unsafe_settings(settings)
    if problems and not local_development(settings):
        raise ImproperlyConfigured(
            f"Refusing to start with {', '.join(problems)} for {settings.EKR_BASE_DOMAIN!r} "
            f"(settings {settings.SETTINGS_MODULE}); set DJANGO_SETTINGS_MODULE=ekr.settings.production and the "
            "secrets, or use a localhost base domain for development."
        )
