from rest_framework.pagination import CursorPagination

from core.serializer_reuse import represent


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pages, newest first: stable under inserts, no COUNT(*) on big tables."""

    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def paginated_response(view, queryset, serializer_class, *, ordering: tuple[str, ...] | None = None):
    """A cursor page of `queryset` rendered with `serializer_class`: the one way lists answer. Newest first unless
    `ordering` names other fields (the first an attribute of each row, e.g. an annotation; the last unique).
    A serializer class with `reusable = True` renders through one shared instance (core.serializer_reuse)."""
    paginator = NewestFirstCursorPagination()
    if ordering:
        paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    if getattr(serializer_class, "reusable", False):
        return paginator.get_paginated_response(represent(serializer_class, page))
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
