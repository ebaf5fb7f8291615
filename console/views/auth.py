"""Log in and out. The same brand users as the admin and the staff API (this brand's schema only: sessions are
host-only), the same django-axes lockout. A guide always lands on their own page, never on a staff page."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.db import connection
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_tenants.utils import get_public_schema_name

from console.views.base import render_error
from core.permissions import staff_scope


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = False

    def dispatch(self, request, *args, **kwargs):
        if connection.schema_name == get_public_schema_name():
            return render_error(request, 404)
        return super().dispatch(request, *args, **kwargs)

    def get_success_url(self) -> str:
        if staff_scope(self.request).is_guide:
            return reverse("console:guide_home")
        wanted = self.request.POST.get("next") or self.request.GET.get("next") or ""
        if wanted.startswith("/console/") and url_has_allowed_host_and_scheme(
            wanted, allowed_hosts={self.request.get_host()}, require_https=self.request.is_secure()
        ):
            return wanted
        return reverse("console:dashboard")


class LogoutView(auth_views.LogoutView):
    next_page = "console:login"
