"""Reads every app shares."""
from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound


def get_in_scope(qs: QuerySet, pk, what: str, *, code: str = NotFound.code):
    """The row `pk` of an already scoped queryset, or a 404 naming `what` (with `code`, "not_found" unless the API
    promised another). An id outside the caller's scope (another franchisee's, another member's) is
    indistinguishable from one that does not exist."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(f"No such {what}.", code=code) from None
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"No such {what}.", code=code)
    return obj
