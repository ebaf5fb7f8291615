"""The platform's WeChat Pay APIv3 client (service-provider mode) on the maintained `wechatpayv3` package.

wechatpayv3 signs requests (WECHATPAY2-SHA256-RSA2048 with the merchant's private key), verifies answers and
notifications (RSA-SHA256 over timestamp, nonce and body, with the key named by `Wechatpay-Serial`) and decrypts
AES-256-GCM resources with the APIv3 key. What this module changes, by subclassing its `Core`:
- the base URL comes from settings.WECHATPAY_API_BASE_URL (the package hard-codes api.mch.weixin.qq.com);
- WeChat Pay's keys come from the registry: its public key (WeChatPayProvider) and/or the platform certificates
  the periodic task stores (WeChatPayPlatformCertificate). An unknown serial is refused; it never triggers a
  download on the request path (the package would call /v3/certificates for every forged serial).
What it adds for notifications: `WECHATPAY/SIGNTEST/` probes and timestamps far from now are refused before any
key is used (the package looks at neither).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings
from django.db import transaction
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core
from wechatpayv3.utils import aes_decrypt, build_authorization, load_certificate

from tenants.models import WeChatPayPlatformCertificate, WeChatPayProvider

logger = logging.getLogger(__name__)

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
SIGNTEST_PREFIX = "WECHATPAY/SIGNTEST/"


class ProviderNotConfigured(Exception):
    """No active WeChat Pay service provider in the registry."""


@dataclass(frozen=True)
class MerchantKeys:
    """A direct merchant's APIv3 credentials, named as the provider's (what `_Core` reads)."""

    sp_mchid: str
    merchant_serial_no: str
    merchant_private_key: str
    apiv3_key: str
    wechatpay_public_key: str
    wechatpay_public_key_id: str


class _Core(Core):
    """wechatpayv3's Core with the base URL from settings and WeChat Pay's keys from the registry."""

    def __init__(self, *, provider: WeChatPayProvider | MerchantKeys, certificates: list):
        self._stored_certificates = certificates
        super().__init__(
            mchid=provider.sp_mchid,
            cert_serial_no=provider.merchant_serial_no,
            private_key=provider.merchant_private_key,
            apiv3_key=provider.apiv3_key,
            public_key=provider.wechatpay_public_key or None,
            public_key_id=provider.wechatpay_public_key_id or None,
            timeout=settings.WECHAT_HTTP_TIMEOUT,
        )
        self._certificates = list(certificates)
        self._gate_way = settings.WECHATPAY_API_BASE_URL.rstrip("/")

    def _init_certificates(self) -> None:  # the package would download them here, from its own URL
        self._certificates = list(self._stored_certificates)

    def _update_certificates(self) -> None:
        """Called by the package on an unknown serial: refreshing is the periodic task's job, not a request's."""

    def knows_serial(self, serial: str) -> bool:
        if self._public_key_id and serial == self._public_key_id:
            return True
        try:
            number = int(serial, 16)
        except (TypeError, ValueError):
            return False
        return any(cert.serial_number == number for cert in self._certificates)


class PartnerClient(WeChatPay):
    """wechatpayv3.WeChatPay in partner mode over `_Core`. (WeChatPay.__init__ builds the package's own Core, so
    the same attributes are set here around ours; every API method of the package works unchanged.)"""

    def __init__(self, *, provider: WeChatPayProvider, certificates: list):
        self._type = WeChatPayType.MINIPROG
        self._mchid = provider.sp_mchid
        self._appid = provider.sp_appid
        self._notify_url = None
        self._partner_mode = True
        self._core = _Core(provider=provider, certificates=certificates)
        self.provider = provider

    @property
    def core(self) -> _Core:
        return self._core


class MerchantClient(WeChatPay):
    """wechatpayv3.WeChatPay for a brand's own (direct) merchant, for the APIs partner mode has no form of
    (商家转账 to a user's openid). Built per call by `merchant_client`; answers verified with the merchant's
    WeChat Pay public key."""

    def __init__(self, *, keys: MerchantKeys, appid: str):
        self._type = WeChatPayType.MINIPROG
        self._mchid = keys.sp_mchid
        self._appid = appid
        self._notify_url = None
        self._partner_mode = False
        self._core = _Core(provider=keys, certificates=[])


def merchant_client(app) -> MerchantClient:
    """The APIv3 client of the brand's own merchant behind mini-program `app` (tenants.WeChatApp): its mch_id,
    apiclient key pair (the certificate gives the serial), APIv3 key and WeChat Pay public key. Raises
    ProviderNotConfigured when any of them is missing or does not load."""
    from cryptography import x509

    if not (
        app.mch_id and app.mch_cert_pem and app.mch_cert_key_pem and app.mch_apiv3_key and app.mch_wechatpay_public_key
    ):
        raise ProviderNotConfigured("The brand's merchant has no APIv3 credentials.")
    try:
        serial = format(x509.load_pem_x509_certificate(app.mch_cert_pem.encode()).serial_number, "X")
        keys = MerchantKeys(
            sp_mchid=app.mch_id,
            merchant_serial_no=serial,
            merchant_private_key=app.mch_cert_key_pem,
            apiv3_key=app.mch_apiv3_key,
            wechatpay_public_key=app.mch_wechatpay_public_key,
            wechatpay_public_key_id=app.mch_wechatpay_public_key_id,
        )
        return MerchantClient(keys=keys, appid=app.appid)
    except Exception as exc:  # the package raises a bare Exception for a key it cannot load
        logger.error("WeChat Pay merchant %s: %s", app.mch_id, exc)
        raise ProviderNotConfigured("The merchant's keys do not load.") from exc


_cache: dict[str, tuple[float, tuple, PartnerClient]] = {}
_cache_lock = threading.Lock()


def provider_client() -> PartnerClient:
    """The active service provider's client. Loading its RSA key costs ~100 ms (cryptography validates the key),
    so a process keeps the client while the provider row and its valid certificates are unchanged: looked at
    again every EKR_TENANT_CACHE_SECONDS (two small queries), rebuilt only when they changed. Raises
    ProviderNotConfigured."""
    ttl = settings.EKR_TENANT_CACHE_SECONDS
    now = time.monotonic()
    hit = _cache.get("active")
    if hit and ttl and hit[0] > now:
        return hit[2]
    provider = WeChatPayProvider.objects.filter(active=True).first()
    if provider is None:
        raise ProviderNotConfigured("No WeChat Pay service provider is configured.")
    certificates = _valid_certificate_rows(provider)
    fingerprint = (provider.pk, provider.updated_at, tuple(row.pk for row in certificates))
    if hit and hit[1] == fingerprint:
        client = hit[2]
    else:
        try:
            client = PartnerClient(provider=provider, certificates=_loaded(certificates))
        except Exception as exc:  # the package raises a bare Exception for a key it cannot load
            logger.error("WeChat Pay service provider %s: %s", provider.sp_mchid, exc)
            raise ProviderNotConfigured("The service provider's keys do not load.") from exc
    with _cache_lock:
        _cache["active"] = (now + ttl, fingerprint, client)
    return client


def provider_client_cache_clear() -> None:
    with _cache_lock:
        _cache.clear()


def _valid_certificate_rows(provider: WeChatPayProvider) -> list[WeChatPayPlatformCertificate]:
    now = datetime.now(UTC)
    return list(provider.certificates.filter(effective_at__lte=now, expires_at__gt=now).order_by("pk"))


def _loaded(rows: list[WeChatPayPlatformCertificate]) -> list:
    return [cert for cert in (load_certificate(row.certificate_pem) for row in rows) if cert is not None]


# --- notifications --------------------------------------------------------------------------------------------


class NotificationRefused(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class VerifiedNotification:
    id: str
    event_type: str  # TRANSACTION.SUCCESS, REFUND.SUCCESS, REFUND.ABNORMAL, REFUND.CLOSED
    create_time: str
    resource: dict[str, Any]  # decrypted


def verify_notification(
    client: PartnerClient, headers: Mapping[str, str], body: bytes, *, now: float, max_skew: int
) -> VerifiedNotification:
    """A notification WeChat Pay signed and encrypted for this service provider, or NotificationRefused.
    Order of checks: probe, timestamp, signature type, known serial, signature, decryption, merchant."""
    signature = headers.get("Wechatpay-Signature") or ""
    if not signature:
        raise NotificationRefused(401, "missing_signature", "Wechatpay-Signature is missing.")
    if signature.startswith(SIGNTEST_PREFIX):
        raise NotificationRefused(401, "signtest_probe", "A WECHATPAY/SIGNTEST/ probe is not a notification.")
    try:
        timestamp = int(headers.get("Wechatpay-Timestamp") or "")
    except ValueError:
        raise NotificationRefused(400, "bad_timestamp", "Wechatpay-Timestamp is missing or not a number.") from None
    if abs(now - timestamp) > max_skew:
        raise NotificationRefused(401, "stale_timestamp", f"Wechatpay-Timestamp {timestamp} is too far from now.")
    if (headers.get("Wechatpay-Signature-Type") or SIGNATURE_TYPE) != SIGNATURE_TYPE:
        raise NotificationRefused(401, "bad_signature_type", "Only WECHATPAY2-SHA256-RSA2048 is accepted.")
    serial = headers.get("Wechatpay-Serial") or ""
    if not client.core.knows_serial(serial):
        raise NotificationRefused(401, "unknown_serial", f"No WeChat Pay key with serial {serial[:64]!r}.")
    signed = {
        "Wechatpay-Signature": signature,
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": headers.get("Wechatpay-Nonce") or "",
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }
    try:
        text = body.decode("utf-8")
        if not client.core._verify_signature(signed, text):
            raise NotificationRefused(401, "bad_signature", "Wechatpay-Signature does not verify.")
        envelope = json.loads(text)
        if not isinstance(envelope, dict):
            raise ValueError("not an object")
    except NotificationRefused:
        raise
    except (UnicodeDecodeError, ValueError):
        raise NotificationRefused(400, "not_json", "The body is not a JSON object.") from None
    resource = _decrypt(client, envelope.get("resource"))
    if resource.get("sp_mchid") != client.provider.sp_mchid:
        raise NotificationRefused(403, "merchant_mismatch", "sp_mchid is not this service provider's.")
    return VerifiedNotification(
        id=str(envelope.get("id") or ""),
        event_type=str(envelope.get("event_type") or ""),
        create_time=str(envelope.get("create_time") or ""),
        resource=resource,
    )


def _decrypt(client: PartnerClient, resource: Any) -> dict[str, Any]:
    if not isinstance(resource, dict) or resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise NotificationRefused(400, "bad_resource", "The resource is not AEAD_AES_256_GCM.")
    try:
        plain = aes_decrypt(
            nonce=str(resource.get("nonce") or ""),
            ciphertext=str(resource.get("ciphertext") or ""),
            associated_data=str(resource.get("associated_data") or ""),
            apiv3_key=client.core._apiv3_key,
        )
        data = json.loads(plain) if plain else None
    except (ValueError, TypeError):
        data = None
    if not isinstance(data, dict):
        raise NotificationRefused(401, "decrypt_failed", "The resource does not decrypt with the APIv3 key.")
    return data


# --- platform certificates ------------------------------------------------------------------------------------


def platform_certificates_refresh() -> int:
    """Download WeChat Pay's platform certificates (/v3/certificates), decrypt them with the APIv3 key, check the
    answer's signature with them, and store the new ones. Old ones stay until they expire (rotation overlaps).
    Returns the number of new certificates; raises if WeChat Pay cannot be reached or the answer does not verify."""
    provider = WeChatPayProvider.objects.filter(active=True).first()
    if provider is None:
        return 0
    client = PartnerClient(provider=provider, certificates=_loaded(_valid_certificate_rows(provider)))
    path = "/v3/certificates"
    authorization = build_authorization(
        path, "GET", provider.sp_mchid, provider.merchant_serial_no, client.core._private_key
    )
    # The package's Core.request hides the answer's headers, which the signature check below needs.
    response = requests.get(
        client.core._gate_way + path,
        timeout=settings.WECHAT_HTTP_TIMEOUT,
        headers={"Authorization": authorization, "Accept": "application/json"},
    )
    if response.status_code != 200:
        raise RuntimeError(f"/v3/certificates answered {response.status_code}")
    text = response.text
    rows = []
    for item in json.loads(text).get("data") or []:
        encrypted = item.get("encrypt_certificate") or {}
        pem = aes_decrypt(
            nonce=encrypted.get("nonce", ""),
            ciphertext=encrypted.get("ciphertext", ""),
            associated_data=encrypted.get("associated_data", ""),
            apiv3_key=provider.apiv3_key,
        )
        certificate = load_certificate(pem or "")
        if certificate is None or format(certificate.serial_number, "X") != str(item.get("serial_no", "")).upper():
            raise RuntimeError("a platform certificate does not decrypt or does not match its serial")
        rows.append((item["serial_no"].upper(), pem, certificate))
    # The answer itself must be signed by one of the keys (old or new): the same check as for any answer.
    client.core._certificates.extend(cert for _, _, cert in rows)
    if not client.core._verify_signature(response.headers, text):
        raise RuntimeError("the /v3/certificates answer does not verify")
    created = 0
    with transaction.atomic():
        for serial, pem, certificate in rows:
            _, new = WeChatPayPlatformCertificate.objects.get_or_create(
                provider=provider,
                serial_no=serial,
                defaults={
                    "certificate_pem": pem,
                    "effective_at": certificate.not_valid_before_utc,
                    "expires_at": certificate.not_valid_after_utc,
                },
            )
            created += int(new)
    provider_client_cache_clear()
    return created
