"""One check for every path that sets a password (ops admin form, create_brand, guide logins): Django's
validators (settings.AUTH_PASSWORD_VALIDATORS), and never an empty password."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from core.errors import ApplicationError


def password_problems(password: str | None, user=None) -> list[str]:
    """What is wrong with `password` for `user` (an unsaved user is fine); [] when it may be used."""
    if not password or not password.strip():
        return ["A password is required."]
    try:
        validate_password(password, user)
    except ValidationError as exc:
        return list(exc.messages)
    return []


def password_validate(password: str | None, user=None) -> None:
    """Raise ApplicationError `weak_password` (400, with the validators' messages) unless `password` is usable."""
    problems = password_problems(password, user)
    if problems:
        raise ApplicationError(_("The password is too weak."), code="weak_password", fields={"password": problems})


class NoEmptyPasswordBackend(ModelBackend):
    """ModelBackend that never accepts an empty password, whatever hash a user row holds."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not password:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
