"""A line chart over time: one line per series, with its interval as a band."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TypedDict

from django.utils.safestring import SafeString

from .axes import baseline, limit_label, limit_line, y_grid
from .scales import (
    Scale,
    as_percent,
    date_ticks,
    local_moment,
    nice_ticks,
    number_tick,
    percent_tick,
    proportion_axis_max,
)
from .svg import (
    AXIS,
    BACKGROUND,
    MUTED,
    PALETTE,
    Node,
    chart,
    clean_text,
    el,
    empty_chart,
    legend,
    num,
    text_width,
    title_text,
    truncate,
    y_axis_label,
)

WIDTH = 640
PLOT_LEFT = 64
PLOT_RIGHT = 624
PLOT_TOP = 44
PLOT_BOTTOM = 244
# Keeps the first and last markers off the axes.
INSET = 12

Point = tuple[date | datetime, float | None, float | None, float | None]


class TrendSeries(TypedDict):
    name: str
    points: Sequence[Point]  # (when, value, low, high); value None is skipped


_EPOCH = datetime(1970, 1, 1)


def _seconds(moment: datetime) -> float:
    return (moment - _EPOCH).total_seconds()


def _when(moment: datetime) -> str:
    day = f"{moment.day} {moment:%b} {moment.year}"
    return day if moment.time() == time(0) else f"{day} {moment:%H:%M}"


def _value_text(value: float, low: float | None, high: float | None, percent: bool) -> str:
    show = as_percent if percent else number_tick
    if low is None or high is None:
        return show(value)
    return f"{show(value)} ({show(low)}–{show(high)})"


def _x_tick(moment: datetime, label: str, x: Scale) -> list[Node]:
    at = x(_seconds(moment))
    half = text_width(label, 12) / 2
    anchor = "end" if at + half > WIDTH else "start" if at - half < 0 else "middle"
    return [
        el("line", x1=at, y1=PLOT_BOTTOM, x2=at, y2=PLOT_BOTTOM + 4, stroke=AXIS),
        el("text", label, x=at, y=PLOT_BOTTOM + 17, text_anchor=anchor, font_size=12, fill=MUTED),
    ]


def trend_lines(
    series: Sequence[TrendSeries],
    *,
    title: str,
    y_label: str,
    limit: float | None = None,
    percent: bool = True,
    empty_message: str = "No closed audits yet",
) -> SafeString:
    """Each series a line over time with markers, its interval a shaded band
    (or a whisker where a series has a single interval), colours in series order."""
    drawn: list[tuple[int, str, list[tuple[datetime, float, float | None, float | None]]]] = []
    for index, one in enumerate(series):
        points = sorted(
            ((local_moment(when), value, low, high) for when, value, low, high in one["points"] if value is not None),
            key=lambda point: point[0],
        )
        if points:
            drawn.append((index, clean_text(one["name"]), points))
    if not drawn:
        return empty_chart(kind="trend", title=title, message=empty_message, width=WIDTH)

    moments = [point[0] for _, _, points in drawn for point in points]
    start, end = min(moments), max(moments)
    with_time = any(moment.time() != time(0) for moment in moments)
    if start == end:
        # One audit: centre it, and label only its own date.
        ticks = [(start, _when(start))]
        start, end = start - timedelta(days=1), end + timedelta(days=1)
    else:
        ticks = date_ticks(start, end, max_ticks=6, with_time=with_time)
    x = Scale(_seconds(start), _seconds(end), PLOT_LEFT + INSET, PLOT_RIGHT - INSET)
    numbers = [n for _, _, points in drawn for point in points for n in point[1:] if n is not None]
    if percent:
        top = proportion_axis_max([*numbers, limit])
        y_ticks = [t for t in nice_ticks(0.0, top) if t <= top + 1e-12]
    else:
        y_ticks = nice_ticks(min(0.0, *numbers), max(numbers + ([limit] if limit is not None else [])))
    y = Scale(y_ticks[0], y_ticks[-1], PLOT_BOTTOM, PLOT_TOP)
    middle = (PLOT_TOP + PLOT_BOTTOM) / 2

    value_tick = percent_tick if percent else number_tick
    children: list[Node] = [title_text(title, WIDTH)]
    children += y_grid(y_ticks, y, left=PLOT_LEFT, right=PLOT_RIGHT, label=value_tick, gap=8)
    children += [baseline(left=PLOT_LEFT, right=PLOT_RIGHT, y=PLOT_BOTTOM), y_axis_label(y_label, middle)]
    for moment, label in ticks:
        children += _x_tick(moment, label, x)
    if limit is not None:
        children += [
            limit_line((PLOT_LEFT, y(limit)), (PLOT_RIGHT, y(limit))),
            limit_label(
                f"limit {value_tick(limit)}", x=PLOT_RIGHT - 2, y=y(limit) - 5, anchor="end", halo_on=BACKGROUND
            ),
        ]

    # Bands, then lines, then markers, so no series' band hides another's marker.
    bands, lines, markers = el("g", class_="chart-bands"), el("g", class_="chart-lines"), el("g")
    entries: list[tuple[str, str, str]] = []
    summaries: list[str] = []
    for index, name, points in drawn:
        colour = PALETTE[index % len(PALETTE)]
        # Past eight series the colours repeat, so the repeats are dashed.
        dashes = "6 3" if index >= len(PALETTE) else None
        at = [(x(_seconds(when)), y(value)) for when, value, _, _ in points]
        spans = [
            (x(_seconds(when)), y(low), y(high))
            for when, _, low, high in points
            if low is not None and high is not None
        ]
        if len(spans) >= 2:
            outline = [(px, top) for px, _, top in spans] + [(px, bottom) for px, bottom, _ in reversed(spans)]
            bands.add(
                el(
                    "polygon",
                    points=" ".join(f"{num(px)},{num(py)}" for px, py in outline),
                    fill=colour,
                    fill_opacity=0.12,
                    class_="chart-band",
                )
            )
        else:
            for px, bottom, top in spans:
                whisker = el("g", stroke=colour, stroke_width=1.5, class_="chart-whisker")
                whisker.add(
                    el("line", x1=px, y1=bottom, x2=px, y2=top),
                    el("line", x1=px - 4, y1=bottom, x2=px + 4, y2=bottom),
                    el("line", x1=px - 4, y1=top, x2=px + 4, y2=top),
                )
                bands.add(whisker)
        if len(at) >= 2:
            lines.add(
                el(
                    "polyline",
                    points=" ".join(f"{num(px)},{num(py)}" for px, py in at),
                    fill="none",
                    stroke=colour,
                    stroke_width=2,
                    stroke_dasharray=dashes,
                    class_="chart-line",
                )
            )
        for (px, py), (when, value, low, high) in zip(at, points):
            markers.add(
                el(
                    "circle",
                    el("title", f"{name} · {_when(when)}: {_value_text(value, low, high, percent)}"),
                    cx=px,
                    cy=py,
                    r=3.5,
                    fill=colour,
                    stroke=BACKGROUND,
                    stroke_width=1.5,
                    class_="chart-point",
                )
            )
        latest = points[-1]
        entries.append((colour, truncate(name, 28), name))
        summaries.append(
            f"{name}: {len(points)} points, latest {_value_text(*latest[1:], percent)} on {_when(latest[0])}"
        )
    children += [bands, lines, markers]
    key, bottom = legend(entries, top=PLOT_BOTTOM + 28, width=WIDTH, line_marker=True)
    children.append(key)
    description = "; ".join(summaries)
    if limit is not None:
        description += f". Limit {value_tick(limit)}."
    return chart(kind="trend", title=title, description=description, width=WIDTH, height=bottom + 4, children=children)
