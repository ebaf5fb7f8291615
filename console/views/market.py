"""The rights market for HQ (权益超市): the brand's own offers with their ROI, what it lists for its members, the
monthly statements with other brands, and its members' redemptions. Reads through rights_market.selectors and
rights_market.roi, which take the brand and return only its side."""

from __future__ import annotations

from console.views.base import HQView
from rights_market.roi import roi_accepting, roi_issuer
from rights_market.selectors import listings_of_brand, offers_of_issuer, statements_of_brand


class MarketView(HQView):
    def get(self, request):
        brand = request.tenant
        return self.page(
            "console/market.html",
            section="market",
            brand=brand,
            offers=offers_of_issuer(brand=brand).order_by("-id")[:50],
            roi={row["offer_id"]: row for row in roi_issuer(brand=brand)},
            listings=listings_of_brand(brand=brand).order_by("-id")[:50],
            statements=statements_of_brand(brand=brand).order_by("-month", "-id")[:24],
            accepting=roi_accepting(brand=brand),
        )
