"""Shops: each store's mini-program shops, open or closed; a shop's assortment with its prices and stock.
Reads through miniprograms.selectors (scoped), writes through miniprograms.services.catalog."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from console.money import fen_from_yuan
from console.views.base import ConsoleView, int_or_none
from core.errors import ApplicationError, NotFound
from miniprograms.models import ShopSku, Sku
from miniprograms.selectors import shop_get_for_scope, shops_for_scope
from miniprograms.services.catalog import shop_sku_set, shop_update


class ShopListView(ConsoleView):
    def get(self, request):
        return self.page(
            "console/shops/list.html", section="shops", shops=shops_for_scope(self.scope).order_by("store__code", "id")
        )


class ShopOpenView(ConsoleView):
    """POST open=1|0: open or close a shop in the mini-program."""

    def post(self, request, shop_id: int):
        shop = shop_update(shop=shop_get_for_scope(self.scope, shop_id), is_open=request.POST.get("open") == "1")
        if request.htmx:  # the list's row swaps in place
            return self.page("console/shops/row.html", shop=shop_get_for_scope(self.scope, shop.pk))
        messages.success(request, _("The shop is open.") if shop.is_open else _("The shop is closed."))
        return HttpResponseRedirect(self.back_url())


class ShopDetailView(ConsoleView):
    def get(self, request, shop_id: int):
        shop = shop_get_for_scope(self.scope, shop_id)
        assortment = ShopSku.objects.filter(shop=shop).select_related("sku", "sku__product").order_by("sku__code")
        return self.page("console/shops/detail.html", section="shops", shop=shop, assortment=assortment)

    def post(self, request, shop_id: int):
        """Put a SKU (by code) on the shelf or change its price (yuan; blank: list price), stock and on-sale."""
        shop = shop_get_for_scope(self.scope, shop_id)
        sku = Sku.objects.filter(code=request.POST.get("sku_code", "").strip()).first()
        if sku is None:
            raise NotFound("No such SKU.")
        stock = int_or_none(request.POST.get("stock"))
        if stock is not None and stock < 0:
            raise ApplicationError("Stock cannot be negative.")
        shop_sku_set(
            shop=shop,
            sku=sku,
            price_fen=fen_from_yuan(request.POST.get("price", ""), blank_is_none=True),
            stock=stock,
            on_sale=request.POST.get("on_sale") == "1",
        )
        messages.success(request, _("Saved %(sku)s.") % {"sku": sku.code})
        return HttpResponseRedirect(reverse("console:shop", args=[shop.pk]))
