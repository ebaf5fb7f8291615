"""Platform (public schema) periodic jobs of the registry."""

from __future__ import annotations

from celery import shared_task

from tenants.wechatpay import platform_certificates_refresh


@shared_task(name="tenants.wechatpay_certificates_refresh", ignore_result=True)
def wechatpay_certificates_refresh() -> int:
    """Beat, twice a day: download WeChat Pay's platform certificates for the service provider (rotation)."""
    return platform_certificates_refresh()
