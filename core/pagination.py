import re

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination

from core.serializer_reuse import represent

_WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")


class NewestFirstCursorPagination(CursorPagination):
    """Cursor pages, newest first: stable under inserts, no COUNT(*) on big tables. `page_size` is 1 to 100; any
    other value is a 400 (DRF would quietly use the default page size instead)."""

    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _WHOLE_NUMBER.fullmatch(raw) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [_("A whole number from 1 to %(max)s.") % {"max": self.max_page_size}]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


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
