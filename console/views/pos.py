"""Store POS keys: create (the key is shown once, only its hash is kept), list. Scoped to the caller's stores."""
from __future__ import annotations

from console.views.base import ConsoleView, int_or_none
from members.selectors import store_get_for_scope, stores_for_scope
from miniprograms.models import PosApiKey
from miniprograms.services.pos import pos_api_key_create


class PosKeyListView(ConsoleView):
    def get(self, request, created_key: str | None = None, store=None):
        stores = stores_for_scope(self.scope)
        keys = PosApiKey.objects.filter(store__in=stores).select_related("store").order_by("store__code", "-id")
        return self.page("console/pos/list.html", section="pos", keys=keys, created_key=created_key,
                         created_store=store, stores=stores)

    def post(self, request):
        store = store_get_for_scope(self.scope, int_or_none(request.POST.get("store_id")))
        raw = pos_api_key_create(store=store)
        # Shown in this response only (never redirected to, never stored in the session).
        response = self.get(request, created_key=raw, store=store)
        response["Cache-Control"] = "no-store"
        return response
