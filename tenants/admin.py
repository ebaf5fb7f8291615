from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from core.admin_sites import brand_admin, ops_admin
from core.crypto import mask
from tenants.models import (
    Brand,
    Domain,
    WeChatApp,
    WeChatPayPlatformCertificate,
    WeChatPayProvider,
)
from tenants.services import brand_create, brand_resume, brand_suspend

# Staff users live in each schema: the ops admin manages platform users, a brand's admin its own users.
for site in (ops_admin, brand_admin):
    site.register(User, UserAdmin)
    site.register(Group, GroupAdmin)


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class BrandCreateForm(forms.ModelForm):
    admin_username = forms.CharField(required=False, help_text="The brand's first HQ admin.")
    admin_password = forms.CharField(required=False, widget=forms.PasswordInput)

    class Meta:
        model = Brand
        fields = ["slug", "name", "industry"]

    def clean(self):
        from django.contrib.auth import get_user_model

        from core.passwords import password_problems

        data = super().clean()
        username, password = data.get("admin_username"), data.get("admin_password")
        if username or password:
            if not username:
                self.add_error("admin_username", "Give the admin a username.")
            for problem in password_problems(password, get_user_model()(username=username or "")):
                self.add_error("admin_password", problem)
        return data


@admin.register(Brand, site=ops_admin)
class BrandAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "industry", "status", "created_at"]
    list_filter = ["status", "industry"]
    search_fields = ["slug", "name"]
    actions = ["suspend", "resume"]
    inlines = [DomainInline]

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = BrandCreateForm
        return super().get_form(request, obj, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "schema_name", "status", "created_at"] if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["slug", "name", "industry", "admin_username", "admin_password"]
        return ["slug", "schema_name", "name", "industry", "status", "created_at"]

    def get_inlines(self, request, obj):
        return [DomainInline] if obj else []

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name", "industry"])
            return
        created = brand_create(
            slug=obj.slug,
            name=obj.name,
            industry=obj.industry,
            admin_username=form.cleaned_data.get("admin_username") or None,
            admin_password=form.cleaned_data.get("admin_password") or None,
        )
        obj.pk = created.pk

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public")

    @admin.action(description="Suspend the selected brands")
    def suspend(self, request, queryset):
        for brand in queryset:
            brand_suspend(brand=brand)
        messages.success(request, f"Suspended {queryset.count()} brand(s).")

    @admin.action(description="Resume the selected brands")
    def resume(self, request, queryset):
        for brand in queryset:
            brand_resume(brand=brand)
        messages.success(request, f"Resumed {queryset.count()} brand(s).")


class WeChatAppForm(forms.ModelForm):
    """Secrets are write-only: blank on edit keeps the stored value; the stored value is never sent back."""

    SECRET_FIELDS = ["secret", "token", "aes_key", "mch_key", "mch_cert_pem", "mch_cert_key_pem", "mch_apiv3_key"]
    secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    token = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    aes_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    mch_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))
    mch_cert_pem = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    mch_cert_key_pem = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    mch_apiv3_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = WeChatApp
        fields = [
            "brand",
            "kind",
            "name",
            "appid",
            "secret",
            "token",
            "aes_key",
            "mch_id",
            "mch_key",
            "mch_cert_pem",
            "mch_cert_key_pem",
            "mch_apiv3_key",
            "mch_wechatpay_public_key",
            "mch_wechatpay_public_key_id",
            "pay_sign_type",
            "pay_api",
            "sub_mchid",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored = {f: getattr(self.instance, f) for f in self.SECRET_FIELDS} if self.instance.pk else {}
        for name in self.SECRET_FIELDS:
            self.initial[name] = ""
            if self._stored.get(name):
                self.fields[name].help_text = f"Stored: {mask(self._stored[name])}. Leave blank to keep."

    def clean(self):
        cleaned = super().clean()
        for name in self.SECRET_FIELDS:
            if not cleaned.get(name) and self._stored.get(name):
                cleaned[name] = self._stored[name]
                setattr(self.instance, name, self._stored[name])
        if not cleaned.get("secret"):
            self.add_error("secret", "Required.")
        if not cleaned.get("token"):
            self.add_error("token", "Required.")
        return cleaned


@admin.register(WeChatApp, site=ops_admin)
class WeChatAppAdmin(admin.ModelAdmin):
    form = WeChatAppForm
    list_display = ["appid", "brand", "kind", "name", "secret_shown", "mch_id", "created_at"]
    list_filter = ["kind", "brand"]
    search_fields = ["appid", "name", "brand__slug"]

    @admin.display(description="secret")
    def secret_shown(self, obj):
        return mask(obj.secret)


class WeChatPayProviderForm(forms.ModelForm):
    """The service provider's secrets are write-only, like a WeChat app's: blank on edit keeps the stored value."""

    SECRET_FIELDS = ["merchant_private_key", "apiv3_key"]
    merchant_private_key = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    apiv3_key = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False))

    class Meta:
        model = WeChatPayProvider
        fields = [
            "name",
            "sp_mchid",
            "sp_appid",
            "merchant_serial_no",
            "merchant_private_key",
            "apiv3_key",
            "wechatpay_public_key_id",
            "wechatpay_public_key",
            "active",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._stored = {f: getattr(self.instance, f) for f in self.SECRET_FIELDS} if self.instance.pk else {}
        for name in self.SECRET_FIELDS:
            self.initial[name] = ""
            if self._stored.get(name):
                self.fields[name].help_text = "Stored (not shown). Leave blank to keep."

    def clean(self):
        cleaned = super().clean()
        for name in self.SECRET_FIELDS:
            if not cleaned.get(name) and self._stored.get(name):
                cleaned[name] = self._stored[name]
                setattr(self.instance, name, self._stored[name])
            if not cleaned.get(name):
                self.add_error(name, "Required.")
        return cleaned


class PlatformCertificateInline(admin.TabularInline):
    model = WeChatPayPlatformCertificate
    fields = ["serial_no", "effective_at", "expires_at", "fetched_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(WeChatPayProvider, site=ops_admin)
class WeChatPayProviderAdmin(admin.ModelAdmin):
    form = WeChatPayProviderForm
    list_display = [
        "sp_mchid",
        "name",
        "sp_appid",
        "merchant_serial_no",
        "wechatpay_public_key_id",
        "active",
        "updated_at",
    ]
    inlines = [PlatformCertificateInline]

    def save_model(self, request, obj, form, change):
        from tenants.wechatpay import provider_client_cache_clear

        super().save_model(request, obj, form, change)
        provider_client_cache_clear()
