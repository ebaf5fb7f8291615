"""Base API views. Each fixes who may call it; subclasses add the operation, not the access rule.

- MemberAPIView (members.api.base): mini-program members; it lives with members, which owns their sessions.
- BrandStaffAPIView: brand users (HQ and store managers) on the brand's host; querysets go through a selector
  that takes `self.scope` (core.permissions.StaffScope) so a store manager only ever sees their franchisee.
  `hq_methods` declares the methods of such a view that only HQ may call (a list every manager reads and only
  HQ adds to): never a check inside the handler.
- BrandHQAPIView: brand HQ staff only.
- GuideAPIView: a shopping guide's own login (only what is attributed to them).
- PlatformOpsAPIView: the platform's ops staff, on the platform host.
- PublicAPIView: no identity needed (e.g. starting a mini-program session).
"""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.pagination import NewestFirstCursorPagination, paginated_response
from core.permissions import IsBrandHQ, IsBrandStaff, IsGuide, IsPlatformOps, StaffScope, staff_scope
from core.tokens import ApiTokenAuthentication


class BaseAPIView(APIView):
    pagination_class = NewestFirstCursorPagination  # what `paginated()` answers with (and the schema documents)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.on_initial(request)

    def on_initial(self, request) -> None:
        pass

    def paginated(self, queryset, serializer_class, *, ordering: tuple[str, ...] | None = None):
        """A cursor page of `queryset`, newest first unless `ordering` says otherwise (core.pagination): how every
        list answers."""
        return paginated_response(self, queryset, serializer_class, ordering=ordering)


class PublicAPIView(BaseAPIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class BrandStaffAPIView(BaseAPIView):
    # Session cookie for the browser console (host-only, per schema); API tokens for scripts (core.tokens).
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]  # first: 401 + WWW-Authenticate
    permission_classes = [IsBrandStaff]
    hq_methods: tuple[str, ...] = ()  # e.g. ("POST",): these methods answer 403 to a store manager
    scope: StaffScope

    def get_permissions(self):
        if self.request.method in self.hq_methods:
            return [IsBrandHQ()]
        return super().get_permissions()

    def on_initial(self, request) -> None:
        self.scope = staff_scope(request)


class BrandHQAPIView(BrandStaffAPIView):
    permission_classes = [IsBrandHQ]


class GuideAPIView(BaseAPIView):
    """A shopping guide's own login; `self.guide_id` is the guide. Guides are never staff."""

    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]  # first: 401 + WWW-Authenticate
    permission_classes = [IsGuide]
    guide_id: int

    def on_initial(self, request) -> None:
        self.guide_id = staff_scope(request).guide_id


class PlatformOpsAPIView(BaseAPIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]  # first: 401 + WWW-Authenticate
    permission_classes = [IsPlatformOps]
