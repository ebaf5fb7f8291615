"""Serializers built once per process, for hot paths.

DRF builds (deep-copies) every field of a serializer each time one is instantiated: for a one-row page that costs
more than rendering the row. A serializer whose output depends only on the row (no context, no request), or an
input serializer used only to validate, can be built once and shared by every request and thread: its fields are
only read while rendering or validating.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _shared(serializer_class):
    return serializer_class()


def represent(serializer_class, items) -> list[dict[str, Any]]:
    """`serializer_class(items, many=True).data`, rendered by one shared instance. For serializers that declare
    `reusable = True` (the row is all they read)."""
    serializer = _shared(serializer_class)
    return [serializer.to_representation(item) for item in items]


def validated(serializer_class, data) -> dict[str, Any]:
    """`serializer_class(data=data)`'s validated_data after `is_valid(raise_exception=True)` (the same
    ValidationError, field by field, on bad input), validated by one shared instance."""
    return _shared(serializer_class).run_validation(data)
