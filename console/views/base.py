"""What every console page shares. Written once, like core.views for the API: a page names who may open it
(staff, HQ only, or a guide) and cannot skip the check; `self.scope` (core.permissions.StaffScope) is what the
page passes to the apps' scoped selectors.

- Not logged in: redirect to the log-in page.
- A guide opening a staff page, or a store manager an HQ page: the 403 page.
- An id outside the caller's scope (core.errors.NotFound, Http404): the 404 page, never the object.
- A broken business rule (core.errors.ApplicationError) on a form: the page again with the service's message.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import View
from django_tenants.utils import get_public_schema_name

from core.errors import ApplicationError, NotFound, error_body
from core.permissions import StaffScope, staff_scope


def render_error(request, status: int):
    template = {403: "console/403.html", 404: "console/404.html"}[status]
    return render(request, template, status=status)


class ConsoleView(View):
    """A staff page (HQ and store managers). Guides are refused."""

    hq_only = False
    guide_page = False
    json_errors = False  # endpoints the page's own script calls: errors in the API's shape, translated
    scope: StaffScope

    def dispatch(self, request, *args, **kwargs):
        if connection.schema_name == get_public_schema_name():
            return render_error(request, 404)
        user = request.user
        if not user.is_authenticated or getattr(user, "is_member", False) or not user.is_active:
            return HttpResponseRedirect(reverse("console:login") + "?" + urlencode({"next": request.get_full_path()}))
        self.scope = staff_scope(request)
        if self.guide_page != self.scope.is_guide or (self.hq_only and not self.scope.is_hq):
            return render_error(request, 403)
        try:
            return super().dispatch(request, *args, **kwargs)
        except (NotFound, Http404):
            if self.json_errors:
                return JsonResponse(error_body("not_found", _("Not found.")), status=404)
            return render_error(request, 404)
        except ApplicationError as exc:
            if self.json_errors:
                return JsonResponse(
                    error_body(exc.code, _(exc.message), exc.fields),
                    status=exc.status_code,
                    json_dumps_params={"ensure_ascii": False},
                )
            if exc.status_code == 403:
                return render_error(request, 403)
            messages.error(request, _(exc.message))
            return HttpResponseRedirect(self.back_url())
        except DjangoValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
            return HttpResponseRedirect(self.back_url())

    def back_url(self) -> str:
        """Where a refused form goes back to: the page it was posted from (same host only), else this path."""
        referer = self.request.META.get("HTTP_REFERER", "")
        if referer and url_has_allowed_host_and_scheme(referer, allowed_hosts={self.request.get_host()}):
            return referer
        return self.request.path

    def context(self, **values) -> dict:
        return {"scope": self.scope, **values}

    def page(self, template_name: str, /, *, http_status: int = 200, **values):
        return render(self.request, template_name, self.context(**values), status=http_status)


class HQView(ConsoleView):
    hq_only = True


class GuideView(ConsoleView):
    """A shopping guide's own page: only what is attributed to them."""

    guide_page = True


def int_or_none(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
