"""Django-level error views: the same JSON shape as the API, never an HTML debug page. Messages in the request's
language (zh-hans unless the caller asks for English)."""
from django.utils.translation import gettext as _

from core.errors import json_error


def bad_request(request, exception=None):
    return json_error(400, "bad_request", _("Bad request."))


def permission_denied(request, exception=None):
    return json_error(403, "permission_denied", _("You do not have permission to do this."))


def not_found(request, exception=None):
    return json_error(404, "not_found", _("Not found."))


def server_error(request):
    return json_error(500, "server_error", _("Internal server error."))


def csrf_failure(request, reason=""):
    return json_error(403, "csrf_failed", _("CSRF check failed; log in again."))
