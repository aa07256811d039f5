"""Points on a share axis: one marker per item, one colour per series, each labelled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from django.utils.safestring import SafeString

from .axes import baseline, x_axis_label, x_ticks, y_grid
from .scales import Scale, nice_ticks, number_tick, percent_tick
from .svg import (
    BACKGROUND,
    MUTED,
    PALETTE,
    chart,
    clean_text,
    el,
    empty_chart,
    halo,
    legend,
    title_text,
    y_axis_label,
)

WIDTH = 640
PLOT_LEFT = 64
PLOT_RIGHT = 620
PLOT_TOP = 44
PLOT_BOTTOM = 244


class ScatterPoint(TypedDict):
    x: float  # a share, 0..1
    y: float
    label: str


class ScatterSeries(TypedDict):
    name: str
    points: Sequence[ScatterPoint]


def share_scatter(
    series: Sequence[ScatterSeries],
    *,
    title: str,
    x_label: str,
    y_label: str,
    empty_message: str = "Nothing recorded yet",
) -> SafeString:
    drawn = [(index, clean_text(one["name"]), list(one["points"])) for index, one in enumerate(series) if one["points"]]
    if not drawn:
        return empty_chart(kind="scatter", title=title, message=empty_message, width=WIDTH)
    values = [p["y"] for _, _, points in drawn for p in points]
    low, high = min(values), max(values)
    if low == high:
        low, high = low - abs(low or 1) * 0.1, high + abs(high or 1) * 0.1
    y_ticks = nice_ticks(low, high)
    y = Scale(y_ticks[0], y_ticks[-1], PLOT_BOTTOM, PLOT_TOP)
    x = Scale(0.0, 1.0, PLOT_LEFT + 8, PLOT_RIGHT - 8)
    children = [title_text(title, WIDTH)]
    children += y_grid(y_ticks, y, left=PLOT_LEFT, right=PLOT_RIGHT, label=number_tick, gap=8)
    children += x_ticks((0.0, 0.25, 0.5, 0.75, 1.0), x, label=percent_tick, label_y=PLOT_BOTTOM + 18)
    children += [
        baseline(left=PLOT_LEFT, right=PLOT_RIGHT, y=PLOT_BOTTOM),
        x_axis_label(x_label, left=PLOT_LEFT, right=PLOT_RIGHT, y=PLOT_BOTTOM + 36),
        y_axis_label(y_label, (PLOT_TOP + PLOT_BOTTOM) / 2),
    ]
    markers = el("g", class_="chart-points")
    entries = []
    summaries = []
    for index, name, points in drawn:
        colour = PALETTE[index % len(PALETTE)]
        entries.append((colour, name, name))
        for point in sorted(points, key=lambda p: p["x"]):
            cx, cy = x(min(max(point["x"], 0.0), 1.0)), y(point["y"])
            text = f"{name}: {number_tick(point['y'])} at {percent_tick(point['x'])} real ({point['label']})"
            summaries.append(text)
            markers.add(
                el(
                    "g",
                    el("title", text),
                    el("circle", cx=cx, cy=cy, r=5, fill=colour, stroke=BACKGROUND, stroke_width=1.5),
                    el(
                        "text",
                        clean_text(point["label"]),
                        x=cx + 8,
                        y=cy - 6,
                        font_size=11,
                        fill=MUTED,
                        **halo(BACKGROUND),
                    ),
                )
            )
    children.append(markers)
    legend_group, bottom = legend(entries, top=PLOT_BOTTOM + 48, width=WIDTH)
    children.append(legend_group)
    return chart(
        kind="scatter", title=title, description="; ".join(summaries), width=WIDTH, height=bottom + 4, children=children
    )
