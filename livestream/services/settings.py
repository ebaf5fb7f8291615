"""The brand's live settings."""

from __future__ import annotations

from django.db import transaction

from livestream.models import LiveSettings
from livestream.selectors import live_settings


@transaction.atomic
def live_settings_update(**changes) -> LiveSettings:
    row = live_settings()
    row = LiveSettings.objects.select_for_update().get(pk=row.pk)
    for key, value in changes.items():
        setattr(row, key, value)
    row.full_clean()
    if changes:
        row.save(update_fields=sorted(changes))
    return row
