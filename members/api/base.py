"""The base view of every mini-program member endpoint, in every app above members."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from core.errors import NotFound
from core.permissions import IsMember
from core.views import BaseAPIView
from members.mp_auth import MemberTokenAuthentication


class MemberAPIView(BaseAPIView):
    authentication_classes = [MemberTokenAuthentication]
    permission_classes = [IsMember]

    def member_or_404(self):
        member = self.request.user.member()
        if member is None:
            raise self.not_a_member()
        return member

    def not_a_member(self) -> NotFound:
        """The 404 of a session whose openid has not registered (yet)."""
        return NotFound(_("Register as a member first."), code="not_a_member")
