"""Store POS keys: create (the key is shown once, only its hash is kept), list, revoke. Scoped to the caller's
stores: a key of another franchisee's store is the 404 page."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from console.views.base import ConsoleView, int_or_none
from core.selectors import get_in_scope
from members.selectors import store_get_for_scope, stores_for_scope
from miniprograms.models import PosApiKey
from miniprograms.services.pos import pos_api_key_create, pos_api_key_revoke


class PosKeyListView(ConsoleView):
    def get(self, request, created_key: str | None = None, store=None):
        stores = stores_for_scope(self.scope)
        keys = PosApiKey.objects.filter(store__in=stores).select_related("store").order_by("store__code", "-id")
        return self.page(
            "console/pos/list.html",
            section="pos",
            keys=keys,
            created_key=created_key,
            created_store=store,
            stores=stores,
        )

    def post(self, request):
        store = store_get_for_scope(self.scope, int_or_none(request.POST.get("store_id")))
        raw = pos_api_key_create(store=store)
        # Shown in this response only (never redirected to, never stored in the session).
        response = self.get(request, created_key=raw, store=store)
        response["Cache-Control"] = "no-store"
        return response


class PosKeyRevokeView(ConsoleView):
    """POST: the key is refused from now on (revoking again changes nothing)."""

    def post(self, request, key_id: int):
        key = get_in_scope(PosApiKey.objects.filter(store__in=stores_for_scope(self.scope)), key_id, "POS key")
        pos_api_key_revoke(store=key.store, key_id=key.pk, revoked_by_id=request.user.id)
        messages.success(request, _("Key %(prefix)s… revoked.") % {"prefix": key.prefix})
        return HttpResponseRedirect(reverse("console:pos_keys"))
