"""Members: exact phone search (phones masked in lists), a member's card, tier, points and orders; tags; the
exclusive guide. Reads through members.selectors (scoped), writes through members.services."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from console.selectors import keyset_page
from console.views.base import ConsoleView, int_or_none
from core.errors import NotFound
from members.models import Tag
from members.selectors import (
    MemberFilters,
    guide_get_for_scope,
    guides_for_scope,
    member_get_for_scope,
    member_points_balance,
    member_search,
    store_get_for_scope,
    stores_for_scope,
)
from members.services import member_guide_assign, members_tag, members_untag
from miniprograms.selectors import orders_for_member
from points.selectors import points_entries_of_member


class MemberListView(ConsoleView):
    def get(self, request):
        phone = request.GET.get("phone", "").strip()
        filters = MemberFilters(
            phone=phone or None,
            tag_id=int_or_none(request.GET.get("tag")),
            store_id=int_or_none(request.GET.get("store")),
        )
        if filters.store_id:  # a store outside the scope is a 404, not an empty list
            store_get_for_scope(self.scope, filters.store_id)
        qs = member_search(scope=self.scope, filters=filters)
        members, next_before = keyset_page(qs, before=int_or_none(request.GET.get("before")))
        query = request.GET.copy()
        query.pop("before", None)
        return self.page(
            "console/members/list.html",
            section="members",
            members=members,
            next_before=next_before,
            phone=phone,
            filters=filters,
            tags=Tag.objects.all(),
            stores=stores_for_scope(self.scope),
            query=query.urlencode(),
        )


class MemberDetailView(ConsoleView):
    def get(self, request, member_id: int):
        member = member_get_for_scope(self.scope, member_id)
        return self.page(
            "console/members/detail.html",
            section="members",
            member=member,
            balance=member_points_balance(member),
            ledger=points_entries_of_member(member=member).order_by("-id")[:20],
            orders=orders_for_member(member).prefetch_related(None).order_by("-id")[:20],
            member_tags=member.tags.all(),
            tags=Tag.objects.all(),
            guides=guides_for_scope(self.scope).filter(active=True),
            tier_history=member.tier_history.select_related("to_level")[:10],
            guide_history=member.guide_history.select_related("to_guide")[:10],
        )


class MemberGuideView(ConsoleView):
    """POST: assign or move the member's exclusive guide (both within the caller's scope)."""

    def post(self, request, member_id: int):
        member = member_get_for_scope(self.scope, member_id)
        guide_id = int_or_none(request.POST.get("guide_id"))
        guide = guide_get_for_scope(self.scope, guide_id) if guide_id else None
        member_guide_assign(
            member=member, guide=guide, reason=_("changed in the console")[:100], changed_by_id=request.user.id
        )
        messages.success(request, _("Exclusive guide saved."))
        return HttpResponseRedirect(reverse("console:member", args=[member.pk]))


class MemberTagView(ConsoleView):
    """POST tag_id (+ remove=1): tag or untag this member."""

    def post(self, request, member_id: int):
        member = member_get_for_scope(self.scope, member_id)
        tag = Tag.objects.filter(pk=int_or_none(request.POST.get("tag_id"))).first()
        if tag is None:
            raise NotFound("No such tag.")
        if request.POST.get("remove"):
            members_untag(tag=tag, member_ids=[member.pk])
        else:
            members_tag(tag=tag, member_ids=[member.pk])
        messages.success(request, _("Tags saved."))
        return HttpResponseRedirect(reverse("console:member", args=[member.pk]))
