"""Login lockout with a limit of its own per lockout parameter (django-axes' database handler, AXES_HANDLER).

axes counts failures per (username, address) and per username across addresses (AXES_LOCKOUT_PARAMETERS) but
compares both with one AXES_FAILURE_LIMIT. Here each has its own: a (username, address) pair locks after
AXES_FAILURE_LIMIT failures, a username (from any number of addresses) after EKR_LOGIN_USERNAME_FAILURE_LIMIT,
which is larger, so one guesser cannot lock a colleague out from elsewhere with a handful of tries while a spread-
out guess still gets nowhere.
"""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_lockout_parameters
from django.conf import settings
from django.db.models import Sum


def _limit(parameter) -> int:
    """The failure limit of one lockout parameter: a username alone has its own, anything else the base one."""
    if parameter == "username" or list(parameter) == ["username"]:
        return settings.EKR_LOGIN_USERNAME_FAILURE_LIMIT
    return settings.AXES_FAILURE_LIMIT


class PerParameterLimitHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        """Failures in units of AXES_FAILURE_LIMIT (what axes compares with): each parameter's count scaled by
        its own limit, the highest one. So the result reaches AXES_FAILURE_LIMIT exactly when some parameter
        reached its own limit."""
        base = settings.AXES_FAILURE_LIMIT
        parameters = get_lockout_parameters(request, credentials)
        scaled = [0]
        for parameter, attempts in zip(parameters, self.get_user_attempts(request, credentials), strict=True):
            count = attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
            scaled.append(count * base // _limit(parameter))
        return max(scaled)
