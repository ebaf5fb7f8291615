"""Ops admin for the public market rows. Exchanges, lines and statements are read-only here: they change only
through services (the state machine, settlement)."""

from django import forms
from django.contrib import admin

from core.admin_sites import ReadOnlyModelAdmin, ops_admin
from core.crypto import mask
from rights_market.models import ClearingLine, Exchange, Listing, Offer, Provider, Statement


class ProviderForm(forms.ModelForm):
    api_key = forms.CharField(
        widget=forms.PasswordInput(render_value=False), required=False, help_text="Leave empty to keep the current key."
    )

    class Meta:
        model = Provider
        fields = ["name", "slug", "base_url", "api_key", "timeout_seconds", "active"]

    def clean_api_key(self):
        key = self.cleaned_data.get("api_key")
        if not key and self.instance.pk:
            return self.instance.api_key
        if not key:
            raise forms.ValidationError("A key is required.")
        return key


@admin.register(Provider, site=ops_admin)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["slug", "name", "base_url", "key", "active"]

    @admin.display(description="key")
    def key(self, obj):
        return mask(obj.api_key)


@admin.register(Offer, site=ops_admin)
class OfferAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "issuer", "kind", "title", "remaining_stock", "total_stock", "status"]
    list_filter = ["status", "kind"]
    list_select_related = ["issuer"]


@admin.register(Listing, site=ops_admin)
class ListingAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "brand", "offer", "points_price", "status"]
    list_select_related = ["brand", "offer"]


@admin.register(Exchange, site=ops_admin)
class ExchangeAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "accepting_brand", "issuer", "offer", "status", "attempts", "undo_reason", "updated_at"]
    list_filter = ["status"]
    list_select_related = ["accepting_brand", "issuer", "offer"]
    exclude = ["fulfilment_code", "member_id", "request_key"]


@admin.register(Statement, site=ops_admin)
class StatementAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "payer", "payee", "month", "total_fen", "line_count", "status"]
    list_filter = ["status", "month"]
    list_select_related = ["payer", "payee"]


@admin.register(ClearingLine, site=ops_admin)
class ClearingLineAdmin(ReadOnlyModelAdmin):
    list_display = ["id", "exchange_id", "payer", "payee", "amount_fen", "month", "statement_id"]
    list_select_related = ["payer", "payee"]
