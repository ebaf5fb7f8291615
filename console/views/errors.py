"""The brand host's 404 handler: the console's page under /console/, the JSON error shape everywhere else."""

from __future__ import annotations

from console.views.base import render_error
from core import handlers


def not_found(request, exception=None):
    if request.path.startswith("/console/"):
        return render_error(request, 404)
    return handlers.not_found(request, exception)
