"""Key material and set-up for WeChat Pay APIv3 tests (and bench/pay3.py)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SP_MCHID = "1230000109"
SP_APPID = "wxsp0000000000001"


def _private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def certificate_for(key, *, days: int = 365):
    """A self-signed certificate standing in for a WeChat Pay platform certificate: (serial hex, pem, from, to)."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA (fake)")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return (
        format(cert.serial_number, "X"),
        pem,
        (now - timedelta(days=1)).isoformat(),
        (now + timedelta(days=days)).isoformat(),
    )


def generate_keys() -> SimpleNamespace:
    merchant = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return SimpleNamespace(
        merchant_key=merchant,
        merchant_pem=_private_pem(merchant),
        merchant_public_pem=_public_pem(merchant),
        merchant_serial="5157F09EFDC096DE15EBE81A47057A72" + secrets.token_hex(4).upper(),
        platform_key=platform,
        platform_public_pem=_public_pem(platform),
        public_key_id="PUB_KEY_ID_0112300001092025" + secrets.token_hex(6).upper(),
        certificate_row=certificate_for(platform),
        stranger_key=stranger,
        apiv3_key=secrets.token_hex(16),
    )


def provider_install(keys, fake, *, public_key: bool = True):
    """The active WeChatPayProvider (replacing any other) and the same account at the fake."""
    from tenants.models import WeChatPayProvider
    from tenants.wechatpay import provider_client_cache_clear

    WeChatPayProvider.objects.all().delete()
    provider = WeChatPayProvider(
        name="ekr",
        sp_mchid=SP_MCHID,
        sp_appid=SP_APPID,
        merchant_private_key=keys.merchant_pem,
        merchant_serial_no=keys.merchant_serial,
        apiv3_key=keys.apiv3_key,
        wechatpay_public_key=keys.platform_public_pem if public_key else "",
        wechatpay_public_key_id=keys.public_key_id if public_key else "",
    )
    provider.full_clean()
    provider.save()
    provider_client_cache_clear()
    fake.pay_v3_provider(SP_MCHID, SP_APPID, keys.merchant_public_pem, keys.merchant_serial, keys.apiv3_key)
    return provider
