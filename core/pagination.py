from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pages, newest first: stable under inserts, no COUNT(*) on big tables."""

    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def paginated_response(view, queryset, serializer_class):
    """A cursor page of `queryset` (newest first) rendered with `serializer_class`: the one way lists answer."""
    paginator = NewestFirstCursorPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)
