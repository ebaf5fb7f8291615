"""Guides: list, move between stores, grant a login, share codes as QR images (WeChat's mini-program code).
Reads through members.selectors (scoped), writes through members.services and miniprograms.services.guides."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from console.views.base import ConsoleView, int_or_none
from members.selectors import (
    guide_get_for_scope,
    guides_for_scope,
    store_get_for_scope,
    stores_for_scope,
)
from members.services import guide_login_grant, guide_move
from miniprograms.selectors import shop_get_for_scope, shops_for_scope
from miniprograms.services.guides import guide_share_code_create


class GuideListView(ConsoleView):
    def get(self, request):
        qs = guides_for_scope(self.scope).select_related("user").order_by("store__code", "id")
        store_id = int_or_none(request.GET.get("store"))
        if store_id:
            qs = qs.filter(store_id=store_get_for_scope(self.scope, store_id).pk)
        return self.page(
            "console/guides/list.html",
            section="guides",
            guides=qs,
            store_id=store_id,
            stores=stores_for_scope(self.scope),
        )


class GuideDetailView(ConsoleView):
    def get(self, request, guide_id: int, share=None):
        guide = guide_get_for_scope(self.scope, guide_id)
        return self.page(
            "console/guides/detail.html",
            section="guides",
            guide=guide,
            share=share,
            moves=guide.moves.select_related("to_store")[:10],
            stores=stores_for_scope(self.scope),
            shops=shops_for_scope(self.scope).order_by("store__code", "id"),
        )


class GuideMoveView(ConsoleView):
    def post(self, request, guide_id: int):
        guide = guide_get_for_scope(self.scope, guide_id)
        store = store_get_for_scope(self.scope, request.POST.get("store_id"))
        guide_move(
            guide=guide,
            to_store=store,
            moved_by_id=request.user.id,
            members_follow=request.POST.get("members_follow") == "1",
        )
        messages.success(request, _("The guide now works at %(store)s.") % {"store": store.name})
        return HttpResponseRedirect(reverse("console:guide", args=[guide.pk]))


class GuideLoginView(ConsoleView):
    def post(self, request, guide_id: int):
        guide = guide_get_for_scope(self.scope, guide_id)
        guide = guide_login_grant(
            guide=guide,
            username=request.POST.get("username", "").strip()[:150],
            password=request.POST.get("password", "")[:128],
        )
        messages.success(request, _("Login saved: %(username)s.") % {"username": guide.user.username})
        return HttpResponseRedirect(reverse("console:guide", args=[guide.pk]))


class GuideShareCodeView(GuideDetailView):
    """POST shop_id: a new share code for the shop, shown as the QR image WeChat made (not stored)."""

    def post(self, request, guide_id: int):
        guide = guide_get_for_scope(self.scope, guide_id)
        shop = shop_get_for_scope(self.scope, request.POST.get("shop_id"))
        share = guide_share_code_create(guide=guide, shop=shop)
        share["mime"] = "image/jpeg" if share["image_base64"].startswith("/9j/") else "image/png"
        return self.get(request, guide_id, share=share)
