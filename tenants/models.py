"""The platform's registry of brands (tenants), their host names and their WeChat apps. Public schema only."""
from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from core.crypto import EncryptedTextField, mask

SLUG_RE = re.compile(r"^[a-z][a-z0-9]{1,39}$")
RESERVED_SLUGS = {"public", "www", "admin", "api", "static", "media", "platform", "template", "brand_template",
                  "pg_catalog", "information_schema"}


class Brand(TenantMixin):
    """A brand is a tenant: one PostgreSQL schema, named after its slug."""

    class Industry(models.TextChoices):
        APPAREL = "apparel", "Apparel"
        BEAUTY = "beauty", "Beauty"
        FMCG = "fmcg", "FMCG"
        HOME = "home", "Home"
        OTHER = "other", "Other"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=100)
    slug = models.CharField(
        max_length=40, unique=True,
        validators=[RegexValidator(SLUG_RE, "Lowercase letters and digits, starting with a letter, 2-40 long.")],
    )
    industry = models.CharField(max_length=16, choices=Industry.choices, default=Industry.OTHER)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Schemas are made by tenants.services.brand_create, not as a side effect of save().
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_platform(self) -> bool:
        return self.schema_name == "public"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def clean(self) -> None:
        if self.schema_name != "public" and self.slug in RESERVED_SLUGS:
            raise ValidationError({"slug": f"'{self.slug}' is reserved."})


class Domain(DomainMixin):
    """A host name routed to a brand: `<slug>.<EKR_BASE_DOMAIN>`, or a brand's own domain."""

    def __str__(self) -> str:
        return self.domain


class WeChatApp(models.Model):
    """A brand's WeChat mini-program or official account. An appid belongs to exactly one brand.

    Secrets are encrypted at rest (core.crypto) and never shown in full after saving.
    """

    class Kind(models.TextChoices):
        MINIPROGRAM = "miniprogram", "Mini-program"
        OFFICIAL_ACCOUNT = "official_account", "Official account"

    class PaySignType(models.TextChoices):
        MD5 = "MD5", "MD5"
        HMAC_SHA256 = "HMAC-SHA256", "HMAC-SHA256"

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="wechat_apps")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MINIPROGRAM)
    name = models.CharField(max_length=100, blank=True)
    appid = models.CharField(
        max_length=32, unique=True,
        validators=[RegexValidator(r"^wx[0-9a-zA-Z]{8,30}$", "A WeChat appid looks like wx followed by 16 hex digits.")],
    )
    secret = EncryptedTextField()
    token = EncryptedTextField(help_text="Message token for callback signatures.")
    aes_key = EncryptedTextField(blank=True, help_text="EncodingAESKey, 43 characters.")
    mch_id = models.CharField(max_length=32, blank=True)
    mch_key = EncryptedTextField(blank=True, help_text="WeChat Pay v2 API key.")
    mch_cert_pem = EncryptedTextField(blank=True, help_text="apiclient_cert.pem: WeChat Pay refunds need it.")
    mch_cert_key_pem = EncryptedTextField(blank=True, help_text="apiclient_key.pem, the certificate's private key.")
    pay_sign_type = models.CharField(max_length=16, choices=PaySignType.choices, default=PaySignType.MD5)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brand_id", "appid"]
        verbose_name = "WeChat app"

    def __str__(self) -> str:
        return f"{self.appid} ({self.get_kind_display()})"

    def clean(self) -> None:
        if self.aes_key and len(self.aes_key) != 43:
            raise ValidationError({"aes_key": "EncodingAESKey is 43 characters."})
        if bool(self.mch_id) != bool(self.mch_key):
            raise ValidationError({"mch_key": "Merchant id and merchant key go together."})
        if bool(self.mch_cert_pem) != bool(self.mch_cert_key_pem):
            raise ValidationError({"mch_cert_key_pem": "The client certificate and its key go together."})
        if self.mch_cert_pem and "BEGIN CERTIFICATE" not in self.mch_cert_pem:
            raise ValidationError({"mch_cert_pem": "Paste apiclient_cert.pem (PEM text)."})

    @property
    def secret_masked(self) -> str:
        return mask(self.secret)
