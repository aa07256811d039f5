"""Filters that format the dashboards' figures."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 1) -> str:
    """0.0833 → "8.3%"; None → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def percent_number(value: float | None) -> str:
    """0.015 → "1.5", for a percent input: a save must store back what was stored, so no rounding to whole percent."""
    if value is None or value == "":
        return ""
    return f"{float(value) * 100:.10g}"


@register.filter
def iso_minute(value: str | None) -> str:
    """A stored ISO timestamp as "2026-11-21 11:00 UTC"-style text in the current time zone."""
    if not value:
        return "—"
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(str(value))
    if moment is None:
        return str(value)
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


@register.filter
def get_item(mapping: dict, key: str) -> object:
    """mapping[key] in a template, or None."""
    return mapping.get(key) if hasattr(mapping, "get") else None
