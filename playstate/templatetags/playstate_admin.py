"""What support staff read: positions and durations as a player shows them."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def clock(milliseconds: int | None) -> str:
    """5_400_000 → "1:30:00", 540_000 → "9:00"; None → "—"."""
    if milliseconds is None:
        return "—"
    seconds = int(milliseconds) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"
