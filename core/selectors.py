"""Reads every app shares."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.functional import lazy
from django.utils.translation import gettext, gettext_noop

from core.errors import NotFound

# The messages get_in_scope can raise, listed so makemessages keeps them in the catalog; they are translated when
# the error is rendered (the `what` of every caller is one of these).
NO_SUCH = [
    gettext_noop("No such POS key."),
    gettext_noop("No such SKU."),
    gettext_noop("No such campaign."),
    gettext_noop("No such category."),
    gettext_noop("No such coupon template."),
    gettext_noop("No such guide."),
    gettext_noop("No such import."),
    gettext_noop("No such live goods."),
    gettext_noop("No such live room."),
    gettext_noop("No such member."),
    gettext_noop("No such order."),
    gettext_noop("No such product."),
    gettext_noop("No such push."),
    gettext_noop("No such refund."),
    gettext_noop("No such shop."),
    gettext_noop("No such store."),
    gettext_noop("No such tag."),
    gettext_noop("No such tier."),
]

_translated = lazy(gettext, str)


def no_such(what: str):
    """'No such <what>.' as a lazy string, translated when rendered."""
    return _translated(f"No such {what}.")


def get_in_scope(qs: QuerySet, pk, what: str, *, code: str = NotFound.code):
    """The row `pk` of an already scoped queryset, or a 404 naming `what` (with `code`, "not_found" unless the API
    promised another). An id outside the caller's scope (another franchisee's, another member's) is
    indistinguishable from one that does not exist."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise NotFound(no_such(what), code=code) from None
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise NotFound(no_such(what), code=code)
    return obj
