"""Reads every app shares."""
from __future__ import annotations

from django.db.models import QuerySet

from core.errors import NotFound


def get_in_scope(qs: QuerySet, pk, what: str):
    """The row `pk` of an already scoped queryset, or a 404 naming `what`. An id outside the caller's scope (another
    franchisee's, another member's) is indistinguishable from one that does not exist."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(f"No such {what}.") from None
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise NotFound(f"No such {what}.")
    return obj
