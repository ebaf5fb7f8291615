"""The platform's registry of brands (tenants), their host names and their WeChat apps. Public schema only."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django_tenants.models import DomainMixin, TenantMixin

from core.crypto import EncryptedTextField, mask

SLUG_RE = re.compile(r"^[a-z][a-z0-9]{1,39}$")
RESERVED_SLUGS = {
    "public",
    "www",
    "admin",
    "api",
    "static",
    "media",
    "platform",
    "template",
    "brand_template",
    "pg_catalog",
    "information_schema",
}


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
        max_length=40,
        unique=True,
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

    class PayApi(models.TextChoices):
        V2 = "wxpay_v2", "WeChat Pay v2 (the brand's own merchant key)"
        V3 = "wxpay_v3", "WeChat Pay APIv3, the platform as service provider"

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="wechat_apps")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MINIPROGRAM)
    name = models.CharField(max_length=100, blank=True)
    appid = models.CharField(
        max_length=32,
        unique=True,
        validators=[
            RegexValidator(r"^wx[0-9a-zA-Z]{8,30}$", "A WeChat appid looks like wx followed by 16 hex digits.")
        ],
    )
    secret = EncryptedTextField()
    token = EncryptedTextField(help_text="Message token for callback signatures.")
    aes_key = EncryptedTextField(blank=True, help_text="EncodingAESKey, 43 characters.")
    mch_id = models.CharField(max_length=32, blank=True)
    mch_key = EncryptedTextField(blank=True, help_text="WeChat Pay v2 API key.")
    mch_cert_pem = EncryptedTextField(blank=True, help_text="apiclient_cert.pem: WeChat Pay refunds need it.")
    mch_cert_key_pem = EncryptedTextField(blank=True, help_text="apiclient_key.pem, the certificate's private key.")
    pay_sign_type = models.CharField(max_length=16, choices=PaySignType.choices, default=PaySignType.MD5)
    # The brand's own merchant on APIv3 (商家转账, e.g. guides' commission): the same mch_id and apiclient key pair
    # as above, with its APIv3 key and WeChat Pay's public key for that merchant (public-key mode).
    mch_apiv3_key = EncryptedTextField(blank=True, help_text="The merchant's APIv3 key (32 characters).")
    mch_wechatpay_public_key = models.TextField(blank=True, help_text="WeChat Pay public key of the merchant (PEM).")
    mch_wechatpay_public_key_id = models.CharField(max_length=64, blank=True, help_text="PUB_KEY_ID_...")
    # Which WeChat Pay new orders of this mini-program use. An order keeps the gateway that created its payment,
    # so switching v2 -> v3 leaves orders in flight on v2.
    pay_api = models.CharField(max_length=16, choices=PayApi.choices, default=PayApi.V2)
    sub_mchid = models.CharField(
        max_length=32,
        blank=True,
        validators=[RegexValidator(r"^[0-9]{6,32}$", "A sub-merchant id is digits.")],
        help_text="Pay v3 (service provider): the brand's default sub-merchant; a franchisee may have its own. "
        "The sub_appid is this mini-program's appid.",
    )
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
        if self.mch_apiv3_key and len(self.mch_apiv3_key.encode()) != 32:
            raise ValidationError({"mch_apiv3_key": "The APIv3 key is 32 characters."})
        if bool(self.mch_wechatpay_public_key) != bool(self.mch_wechatpay_public_key_id):
            raise ValidationError({"mch_wechatpay_public_key_id": "The public key and its id go together."})
        if self.pay_api == self.PayApi.V3 and not self.sub_mchid:
            raise ValidationError({"sub_mchid": "WeChat Pay v3 needs the brand's default sub-merchant id."})

    @property
    def secret_masked(self) -> str:
        return mask(self.secret)


class WeChatPayProvider(models.Model):
    """The platform's WeChat Pay service-provider (服务商) account, for APIv3 partner mode: brands and franchisees
    are its sub-merchants. One active row. Secrets encrypted at rest and never shown after saving; WeChat Pay's
    own key is either its public key (with its id) or the platform certificates the periodic task downloads."""

    name = models.CharField(max_length=100, blank=True)
    sp_mchid = models.CharField(
        max_length=32, unique=True, validators=[RegexValidator(r"^[0-9]{6,32}$", "A merchant id is digits.")]
    )
    sp_appid = models.CharField(max_length=32, validators=[RegexValidator(r"^wx[0-9a-zA-Z]{8,30}$", "wx...")])
    merchant_private_key = EncryptedTextField(help_text="apiclient_key.pem of the service provider.")
    merchant_serial_no = models.CharField(max_length=64, help_text="Serial number of the merchant certificate.")
    apiv3_key = EncryptedTextField(help_text="APIv3 key, 32 characters.")
    wechatpay_public_key = models.TextField(blank=True, help_text="WeChat Pay public key (PEM); not secret.")
    wechatpay_public_key_id = models.CharField(max_length=64, blank=True, help_text="PUB_KEY_ID_...")
    active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "WeChat Pay service provider"
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=models.Q(active=True), name="wechatpay_one_active_provider"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name or 'service provider'} {self.sp_mchid}"

    def clean(self) -> None:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

        if self.apiv3_key and len(self.apiv3_key.encode()) != 32:
            raise ValidationError({"apiv3_key": "The APIv3 key is 32 characters."})
        if bool(self.wechatpay_public_key) != bool(self.wechatpay_public_key_id):
            raise ValidationError({"wechatpay_public_key_id": "The public key and its id go together."})
        try:
            load_pem_private_key(self.merchant_private_key.encode(), password=None)
        except (ValueError, TypeError):
            raise ValidationError({"merchant_private_key": "Paste apiclient_key.pem (PEM text)."}) from None
        if self.wechatpay_public_key:
            try:
                load_pem_public_key(self.wechatpay_public_key.encode())
            except ValueError:
                raise ValidationError({"wechatpay_public_key": "Paste the public key (PEM text)."}) from None


class WeChatPayPlatformCertificate(models.Model):
    """A WeChat Pay platform certificate, downloaded from /v3/certificates (tenants.tasks) and kept until it
    expires: notifications and answers name the serial of the key that signed them."""

    provider = models.ForeignKey(WeChatPayProvider, on_delete=models.CASCADE, related_name="certificates")
    serial_no = models.CharField(max_length=64)
    certificate_pem = models.TextField()
    effective_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    fetched_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-expires_at"]
        constraints = [models.UniqueConstraint(fields=["provider", "serial_no"], name="wechatpay_certificate_once")]

    def __str__(self) -> str:
        return self.serial_no
