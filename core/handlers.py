"""Django-level error views: the same JSON shape as the API, never an HTML debug page. Messages in the request's
language (zh-hans unless the caller asks for English)."""

import sys

from django.utils.translation import gettext as _

from core.errors import dependency_down, json_error, unavailable_response


def bad_request(request, exception=None):
    return json_error(400, "bad_request", _("Bad request."))


def permission_denied(request, exception=None):
    return json_error(403, "permission_denied", _("You do not have permission to do this."))


def not_found(request, exception=None):
    return json_error(404, "not_found", _("Not found."))


def server_error(request):
    # Called inside Django's `except` (middleware such as tenant routing failed): PostgreSQL or Redis down is a
    # 503 with Retry-After, not a 500.
    down = dependency_down(sys.exc_info()[1])
    if down is not None:
        return unavailable_response(down)
    return json_error(500, "server_error", _("Internal server error."))


def csrf_failure(request, reason=""):
    return json_error(403, "csrf_failed", _("CSRF check failed; log in again."))


def login_locked_out(request, original_response=None, credentials=None):
    """axes' lockout answer (AXES_LOCKOUT_CALLABLE): 429 in the error shape, with Retry-After."""
    from django.conf import settings

    response = json_error(
        429,
        "locked_out",
        "Too many failed logins for this account; try again later or ask the platform's operations team to unlock it.",
    )
    response["Retry-After"] = str(int(float(settings.AXES_COOLOFF_TIME) * 3600))
    return response
