"""What tenants asks of the apps above it (tenants never imports them; they subscribe in `AppConfig.ready()`).

- Brand admin created: `brand_create` makes the brand's first admin user; members subscribes to grant that user
  the HQ role (HQ is an explicit grant, never inferred). Hooks run inside the brand's schema and must be
  idempotent per user.
"""

from __future__ import annotations

from collections.abc import Callable

_on_brand_admin_created: list[Callable[[object], object]] = []


def brand_admin_created_subscribe(hook: Callable[[object], object]) -> None:
    if hook not in _on_brand_admin_created:
        _on_brand_admin_created.append(hook)


def brand_admin_created_notify(user) -> None:
    for hook in _on_brand_admin_created:
        hook(user)
