"""Console log-in: brand users of this schema (HQ, store managers, guides), django-axes lockout like the admin."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from django.shortcuts import render


def lockout_response(request, original_response=None, credentials=None) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the console's own page for a locked console login; axes' plain 429 elsewhere."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    if request.path.startswith("/console/"):
        return render(request, "console/locked.html", {"cooloff_hours": settings.AXES_COOLOFF_TIME}, status=status)
    from core.handlers import login_locked_out

    return login_locked_out(request, original_response, credentials)  # 429 in the error shape
