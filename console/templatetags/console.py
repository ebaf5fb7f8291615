"""Template filters of the console: money from integer fen, percentages."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def yuan(fen) -> str:
    """12345 -> '¥123.45'; 123456789 -> '¥1,234,567.89'. Integer arithmetic only (no float)."""
    if fen in (None, ""):
        return "—"
    fen = int(fen)
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}¥{whole:,}.{cents:02d}"


@register.filter
def percent(part, whole) -> int:
    """Whole percent of part / whole, 0..100 (0 when whole is 0)."""
    try:
        part, whole = int(part), int(whole)
    except (TypeError, ValueError):
        return 0
    if whole <= 0:
        return 0
    return max(0, min(100, part * 100 // whole))


@register.filter(name="label")
def label_filter(value, kind: str):
    """{{ order.status|label:"order_status" }}: the status in the user's language."""
    from console.labels import label

    return label(value, kind)


@register.filter
def get_item(mapping, key):
    """{{ rows|get_item:offer.pk }}: a dict's value in a template (empty dict when absent)."""
    return (mapping or {}).get(key) or {}
