"""A histogram of (low, high, count) bins, such as nearest-neighbour similarities."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.safestring import SafeString

from .axes import baseline, beside, limit_label, limit_line, x_axis_label, x_ticks, y_grid
from .scales import (
    Scale,
    nice_ticks,
    number_tick,
)
from .svg import (
    BLUE,
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
    children += y_grid(y_ticks, y, left=HISTOGRAM_LEFT, right=HISTOGRAM_RIGHT, label=number_tick, gap=6)
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
    children.append(baseline(left=HISTOGRAM_LEFT, right=HISTOGRAM_RIGHT, y=HISTOGRAM_BOTTOM))
    x_tick_values = [t for t in nice_ticks(ordered[0][0], ordered[-1][1], 6) if x.lo - 1e-9 <= t <= x.hi + 1e-9]
    children += x_ticks(x_tick_values, x, label=number_tick, label_y=HISTOGRAM_BOTTOM + 15)
    children += [
        x_axis_label(x_label, left=HISTOGRAM_LEFT, right=HISTOGRAM_RIGHT, y=HISTOGRAM_BOTTOM + 33),
        y_axis_label(y_label, middle),
    ]
    total = sum(count for _, _, count in ordered)
    description = f"{total:,} in {len(ordered)} bins from {number_tick(x.lo)} to {number_tick(x.hi)}"
    if highlight_from is not None:
        label = highlight_label or f"≥ {number_tick(highlight_from)}: {highlighted:,}"
        at = x(highlight_from)
        label_x, anchor = beside(at, left=HISTOGRAM_LEFT, right=HISTOGRAM_RIGHT)
        children += [
            limit_line((at, HISTOGRAM_TOP - 4), (at, HISTOGRAM_BOTTOM), colour=VERMILLION),
            limit_label(label, x=label_x, y=HISTOGRAM_TOP - 8, anchor=anchor, colour=VERMILLION, bold=True),
        ]
        description += f"; {highlighted:,} at or above {number_tick(highlight_from)}"
    for row, (value, label) in enumerate(marks):
        if not x.lo - 1e-9 <= value <= x.hi + 1e-9:
            continue
        at = x(value)
        label_x, anchor = beside(at, left=HISTOGRAM_LEFT, right=HISTOGRAM_RIGHT)
        children += [
            limit_line((at, HISTOGRAM_TOP), (at, HISTOGRAM_BOTTOM), dashes="2 2", kind="chart-mark"),
            # Below the highlight's label, one row each, so labels of close values never overlap.
            limit_label(label, x=label_x, y=HISTOGRAM_TOP + 12 + 14 * row, anchor=anchor, kind="chart-mark-label"),
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
