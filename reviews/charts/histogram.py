"""A histogram of (low, high, count) bins, such as nearest-neighbour similarities."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.safestring import SafeString

from .scales import (
    Scale,
    nice_ticks,
    number_tick,
)
from .svg import (
    AXIS,
    BLUE,
    GRID,
    LIMIT,
    MUTED,
    VERMILLION,
    chart,
    el,
    empty_chart,
    title_text,
    y_axis_label,
)

WIDTH = 640

HISTOGRAM_LEFT = 56
HISTOGRAM_RIGHT = 628
HISTOGRAM_TOP = 44
HISTOGRAM_BOTTOM = 224


def histogram(
    bins: Sequence[tuple[float, float, int]],
    *,
    title: str,
    x_label: str,
    highlight_from: float | None = None,
    highlight_label: str | None = None,
    y_label: str = "count",
    empty_message: str = "Nothing measured yet",
    marks: Sequence[tuple[float, str]] = (),
) -> SafeString:
    """Vertical bars over (low, high, count) bins; bins starting at or above
    `highlight_from` (a copy threshold, say) stand out in another colour.
    `marks` are further labelled lines in ink (the threshold in force, say)."""
    ordered = sorted((float(low), float(high), int(count)) for low, high, count in bins)
    if not ordered or not any(count for _, _, count in ordered):
        return empty_chart(kind="histogram", title=title, message=empty_message, width=WIDTH)
    x = Scale(ordered[0][0], ordered[-1][1], HISTOGRAM_LEFT, HISTOGRAM_RIGHT)
    y_ticks = nice_ticks(0, max(count for _, _, count in ordered), integer=True)
    y = Scale(0, y_ticks[-1], HISTOGRAM_BOTTOM, HISTOGRAM_TOP)
    middle = (HISTOGRAM_TOP + HISTOGRAM_BOTTOM) / 2
    children = [title_text(title, WIDTH)]
    for tick in y_ticks:
        children += [
            el(
                "line",
                x1=HISTOGRAM_LEFT,
                y1=y(tick),
                x2=HISTOGRAM_RIGHT,
                y2=y(tick),
                stroke=GRID,
                class_="chart-grid",
            ),
            el(
                "text",
                number_tick(tick),
                x=HISTOGRAM_LEFT - 6,
                y=y(tick) + 4,
                text_anchor="end",
                font_size=12,
                fill=MUTED,
            ),
        ]
    highlighted = 0
    for low, high, count in ordered:
        lit = highlight_from is not None and low >= highlight_from - 1e-9
        highlighted += count if lit else 0
        if count:
            children.append(
                el(
                    "rect",
                    el("title", f"{number_tick(low)}–{number_tick(high)}: {count:,}"),
                    x=x(low) + 0.5,
                    y=y(count),
                    width=max(x(high) - x(low) - 1, 0.5),
                    height=HISTOGRAM_BOTTOM - y(count),
                    fill=VERMILLION if lit else BLUE,
                    class_="chart-bar" + (" chart-highlight" if lit else ""),
                )
            )
    children.append(
        el(
            "line",
            x1=HISTOGRAM_LEFT,
            y1=HISTOGRAM_BOTTOM,
            x2=HISTOGRAM_RIGHT,
            y2=HISTOGRAM_BOTTOM,
            stroke=AXIS,
            class_="chart-axis",
        )
    )
    for tick in nice_ticks(ordered[0][0], ordered[-1][1], 6):
        if x.lo - 1e-9 <= tick <= x.hi + 1e-9:
            children.append(
                el(
                    "text",
                    number_tick(tick),
                    x=x(tick),
                    y=HISTOGRAM_BOTTOM + 15,
                    text_anchor="middle",
                    font_size=12,
                    fill=MUTED,
                )
            )
    children += [
        el(
            "text",
            x_label,
            x=(HISTOGRAM_LEFT + HISTOGRAM_RIGHT) / 2,
            y=HISTOGRAM_BOTTOM + 33,
            text_anchor="middle",
            fill=MUTED,
            class_="chart-axis-label",
        ),
        y_axis_label(y_label, middle),
    ]
    total = sum(count for _, _, count in ordered)
    description = f"{total:,} in {len(ordered)} bins from {number_tick(x.lo)} to {number_tick(x.hi)}"
    if highlight_from is not None:
        label = highlight_label or f"≥ {number_tick(highlight_from)}: {highlighted:,}"
        at = x(highlight_from)
        anchor = "end" if at > (HISTOGRAM_LEFT + HISTOGRAM_RIGHT) / 2 else "start"
        children += [
            el(
                "line",
                x1=at,
                y1=HISTOGRAM_TOP - 4,
                x2=at,
                y2=HISTOGRAM_BOTTOM,
                stroke=VERMILLION,
                stroke_width=1.5,
                stroke_dasharray="4 3",
                class_="chart-limit",
            ),
            el(
                "text",
                label,
                x=at + (-4 if anchor == "end" else 4),
                y=HISTOGRAM_TOP - 8,
                text_anchor=anchor,
                font_size=12,
                font_weight=600,
                fill=VERMILLION,
                class_="chart-limit-label",
            ),
        ]
        description += f"; {highlighted:,} at or above {number_tick(highlight_from)}"
    for row, (value, label) in enumerate(marks):
        if not x.lo - 1e-9 <= value <= x.hi + 1e-9:
            continue
        at = x(value)
        anchor = "end" if at > (HISTOGRAM_LEFT + HISTOGRAM_RIGHT) / 2 else "start"
        children += [
            el(
                "line",
                x1=at,
                y1=HISTOGRAM_TOP,
                x2=at,
                y2=HISTOGRAM_BOTTOM,
                stroke=LIMIT,
                stroke_width=1.5,
                stroke_dasharray="2 2",
                class_="chart-mark",
            ),
            # Below the highlight's label, one row each, so labels of close values never overlap.
            el(
                "text",
                label,
                x=at + (-4 if anchor == "end" else 4),
                y=HISTOGRAM_TOP + 12 + 14 * row,
                text_anchor=anchor,
                font_size=12,
                fill=LIMIT,
                class_="chart-mark-label",
            ),
        ]
        description += f"; {label}"
    return chart(
        kind="histogram",
        title=title,
        description=description + ".",
        width=WIDTH,
        height=HISTOGRAM_BOTTOM + 44,
        children=children,
    )
