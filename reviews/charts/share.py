"""One full-width bar split into the parts of a whole, with a legend."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.safestring import SafeString

from .scales import (
    as_percent,
)
from .svg import (
    PALETTE,
    Node,
    chart,
    clean_text,
    el,
    empty_chart,
    legend,
    text_colour_on,
    text_width,
    title_text,
    truncate,
)

WIDTH = 640

SHARE_BAR_TOP = 28
SHARE_BAR_HEIGHT = 28


def stacked_share(
    parts: Sequence[tuple[str, int]], *, title: str, empty_message: str = "Nothing counted yet"
) -> SafeString:
    """One full-width bar split into (label, count) parts, with a legend of
    counts and percentages; colours follow the order of `parts`."""
    counted = [(clean_text(label), max(int(count), 0)) for label, count in parts]
    total = sum(count for _, count in counted)
    if total == 0:
        return empty_chart(kind="share", title=title, message=empty_message, width=WIDTH)
    children: list[Node] = [title_text(title, WIDTH)]
    entries: list[tuple[str, str, str]] = []
    running = 0
    for index, (label, count) in enumerate(counted):
        colour = PALETTE[index % len(PALETTE)]
        # Edges rounded first and widths taken between them, so the widths add
        # up to exactly the bar's width whatever the counts.
        start = round(WIDTH * running / total, 2)
        running += count
        end = round(WIDTH * running / total, 2)
        share = as_percent(count / total)
        tooltip = f"{label}: {count:,} ({share})"
        entries.append((colour, f"{truncate(label, 28)} {count:,} ({share})", tooltip))
        if not count:
            continue
        segment = el("g", el("title", tooltip), class_="chart-segment")
        segment.add(
            el(
                "rect",
                x=start,
                y=SHARE_BAR_TOP,
                width=round(end - start, 2),
                height=SHARE_BAR_HEIGHT,
                fill=colour,
            )
        )
        if end - start >= text_width(share, 12) + 10:
            segment.add(
                el(
                    "text",
                    share,
                    x=(start + end) / 2,
                    y=SHARE_BAR_TOP + 18,
                    text_anchor="middle",
                    font_size=12,
                    font_weight=600,
                    fill=text_colour_on(colour),
                )
            )
        children.append(segment)
    key, bottom = legend(entries, top=SHARE_BAR_TOP + SHARE_BAR_HEIGHT + 8, width=WIDTH)
    children.append(key)
    description = "; ".join(tooltip for _, _, tooltip in entries) + f". Total {total:,}."
    return chart(kind="share", title=title, description=description, width=WIDTH, height=bottom + 4, children=children)
