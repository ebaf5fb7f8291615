"""Every write to the brand registry: provisioning, suspension, WeChat apps."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context, schema_exists

from core.errors import ApplicationError, Conflict
from core.passwords import password_validate
from tenants import hooks
from tenants.cloning import schema_clone
from tenants.models import Brand, Domain, WeChatApp
from tenants.routing import tenant_cache_clear

logger = logging.getLogger(__name__)


def brand_host(slug: str) -> str:
    return f"{slug}.{settings.EKR_BASE_DOMAIN}"


def platform_ensure() -> Brand:
    """The public schema's own row and the bare base domain, so that `localhost` is the platform."""
    platform, _ = Brand.objects.get_or_create(
        schema_name="public", defaults={"name": "ekr platform", "slug": "platform"}
    )
    Domain.objects.get_or_create(domain=settings.EKR_BASE_DOMAIN, defaults={"tenant": platform, "is_primary": True})
    return platform


def brand_create(
    *,
    slug: str,
    name: str,
    industry: str = Brand.Industry.OTHER,
    admin_username: str | None = None,
    admin_password: str | None = None,
    extra_domains: tuple[str, ...] = (),
) -> Brand:
    """Provision a brand: schema (cloned from the migrated template), domain and its first HQ admin.

    Cloning the template (tenants.cloning) copies tables, constraints, indexes, triggers and the migration
    history; bench/provision measures it against replaying every migration. Raises Conflict if the slug is taken.
    """
    if Brand.objects.filter(slug=slug).exists():
        raise Conflict(_("A brand with slug '%(slug)s' already exists."), params={"slug": slug}, code="brand_exists")
    if admin_username:  # before anything is created: a weak password leaves no half-made brand
        from django.contrib.auth import get_user_model

        password_validate(admin_password, get_user_model()(username=admin_username))
    if not schema_exists(settings.TENANT_BASE_SCHEMA):
        raise ApplicationError(
            _("The template schema is missing: run `python manage.py migrate_schemas` first."),
            code="template_missing",
            status_code=500,
        )
    brand = Brand(slug=slug, name=name, industry=industry, schema_name=slug)
    brand.full_clean()
    with transaction.atomic():
        brand.save()
        Domain.objects.create(domain=brand_host(slug), tenant=brand, is_primary=True)
        for host in extra_domains:
            Domain.objects.create(domain=host, tenant=brand, is_primary=False)
        if settings.TENANT_CREATION_FAKES_MIGRATIONS:
            schema_clone(source=settings.TENANT_BASE_SCHEMA, target=brand.schema_name)
        else:  # replaying every migration: kept for comparison (bench/provision) and for debugging
            brand.create_schema(check_if_exists=True, verbosity=0)
    connection.set_schema_to_public()
    if admin_username:
        brand_admin_create(brand=brand, username=admin_username, password=admin_password or "")
    logger.info("brand provisioned: %s", slug)
    return brand


def brand_admin_create(*, brand: Brand, username: str, password: str):
    """The brand's first HQ admin: a superuser of the brand's own schema (not of the platform), granted the HQ
    role through the `brand_admin_created` hook (members)."""
    from django.contrib.auth import get_user_model

    with schema_context(brand.schema_name):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password_validate(password, User(username=username))
            user = User.objects.create_superuser(username=username, password=password, email="")
        hooks.brand_admin_created_notify(user)
        return user


def _brand_status_set(*, brand: Brand, status: str) -> Brand:
    if brand.is_platform:
        raise ApplicationError(_("The platform itself cannot be suspended."), code="platform_brand")
    brand.status = status
    brand.save(update_fields=["status"])
    tenant_cache_clear()
    return brand


def brand_suspend(*, brand: Brand) -> Brand:
    """Suspended brands answer 403 on every host of theirs; nothing is deleted."""
    return _brand_status_set(brand=brand, status=Brand.Status.SUSPENDED)


def brand_resume(*, brand: Brand) -> Brand:
    return _brand_status_set(brand=brand, status=Brand.Status.ACTIVE)


def wechat_app_add(
    *,
    brand: Brand,
    appid: str,
    secret: str,
    token: str,
    aes_key: str = "",
    kind: str = WeChatApp.Kind.MINIPROGRAM,
    name: str = "",
    mch_id: str = "",
    mch_key: str = "",
    pay_sign_type: str = WeChatApp.PaySignType.MD5,
    mch_cert_pem: str = "",
    mch_cert_key_pem: str = "",
) -> WeChatApp:
    """Register a brand's WeChat app. An appid already registered (to any brand) is a Conflict."""
    if WeChatApp.objects.filter(appid=appid).exists():
        raise Conflict(_("appid %(appid)s is already registered."), params={"appid": appid}, code="appid_taken")
    app = WeChatApp(
        brand=brand,
        appid=appid,
        secret=secret,
        token=token,
        aes_key=aes_key,
        kind=kind,
        name=name,
        mch_id=mch_id,
        mch_key=mch_key,
        pay_sign_type=pay_sign_type,
        mch_cert_pem=mch_cert_pem,
        mch_cert_key_pem=mch_cert_key_pem,
    )
    app.full_clean()
    app.save()
    return app
