from django.contrib import admin

from core.admin_sites import ReadOnlyModelAdmin, brand_admin
from rights_market.brandside.models import Voucher


@admin.register(Voucher, site=brand_admin)
class VoucherAdmin(ReadOnlyModelAdmin):
    """Read-only: vouchers are issued, claimed and used through services."""

    list_display = ["id", "title", "status", "valid_until", "claimed_at", "used_at", "used_store"]
    list_filter = ["status"]
    exclude = ["code"]
