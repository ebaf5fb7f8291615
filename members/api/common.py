"""Pieces the staff views share: HQ-only operations, cursor pages, raw-bytes upload."""
from __future__ import annotations

from rest_framework.parsers import BaseParser

from core.errors import ApplicationError
from core.pagination import paginated_response
from core.views import BrandStaffAPIView


class StaffView(BrandStaffAPIView):
    def require_hq(self) -> None:
        if not self.scope.is_hq:
            raise ApplicationError("Only HQ staff may do this.", code="permission_denied", status_code=403)

    def paginated(self, queryset, serializer_class):
        return paginated_response(self, queryset, serializer_class)


class RawBytesParser(BaseParser):
    """A CSV chunk as the raw request body."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""
