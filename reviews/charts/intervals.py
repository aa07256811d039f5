"""Proportions with their intervals: one row per generator, template version or
run, and a small bar for a metrics table cell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypedDict

from django.utils.safestring import SafeString

from .axes import baseline, limit_label, limit_line, x_axis_label, x_ticks
from .scales import (
    Scale,
    as_percent,
    nice_ticks,
    percent_tick,
    proportion_axis_max,
)
from .svg import (
    BACKGROUND,
    BLUE,
    GRID,
    INK,
    MUTED,
    ROW_BAND,
    VERMILLION,
    Node,
    chart,
    clean_text,
    el,
    empty_chart,
    halo,
    title_text,
    truncate,
)

WIDTH = 700


# interval_bars geometry: label column | plot | value and note column.
LABEL_RIGHT = 196
PLOT_LEFT = 208
PLOT_RIGHT = 468
VALUE_RIGHT = 522
NOTE_LEFT = 530
ROWS_TOP = 46
ROW_HEIGHT = 26
LABEL_CHARS = 28
NOTE_CHARS = 27

SPARK_WIDTH = 120
SPARK_HEIGHT = 16


class IntervalRow(TypedDict, total=False):
    label: str  # required
    value: float | None  # None: no verdicts yet
    low: float | None
    high: float | None
    note: str


def _interval_text(row: IntervalRow) -> str:
    value, low, high = row.get("value"), row.get("low"), row.get("high")
    if value is None:
        text = "no verdicts"
    elif low is not None and high is not None:
        text = f"{as_percent(value)} (interval {as_percent(low)}–{as_percent(high)})"
    else:
        text = as_percent(value)
    note = row.get("note")
    return f"{text}, {clean_text(note)}" if note else text


def _limit_label_anchor(x: float, left: float, right: float) -> str:
    if x > right - 30:
        return "end"
    return "start" if x < left + 30 else "middle"


def _over_limit(value: float | None, high: float | None, limit: float | None) -> bool:
    """What the export gate judges: the interval's upper bound against the limit (the estimate when
    no interval is given), so a bar drawn in blue is one the gate would pass."""
    if value is None or limit is None:
        return False
    return (high if high is not None else value) > limit


def _interval_row(row: IntervalRow, index: int, x: Scale, limit: float | None) -> Node:
    y = ROWS_TOP + index * ROW_HEIGHT + ROW_HEIGHT / 2
    band = ROW_BAND if index % 2 else BACKGROUND
    label = clean_text(row.get("label", ""))
    value, low, high = row.get("value"), row.get("low"), row.get("high")
    over = _over_limit(value, high, limit)
    colour = VERMILLION if over else BLUE
    tooltip = f"{label}: {_interval_text(row)}" + (", upper bound above the limit" if over else "")
    group = el(
        "g",
        el("title", tooltip),
        el(
            "rect",
            x=0,
            y=y - ROW_HEIGHT / 2,
            width=WIDTH,
            height=ROW_HEIGHT,
            fill=BACKGROUND,
            fill_opacity=0,
            class_="chart-hit",
        ),
        el("text", truncate(label, LABEL_CHARS), x=LABEL_RIGHT, y=y + 4, text_anchor="end"),
        class_="chart-row" + (" chart-over-limit" if over else ""),
    )
    if value is None:
        # A halo in the row's own colour keeps a limit line from striking through the words.
        group.add(el("text", "no verdicts", x=PLOT_LEFT + 6, y=y + 4, fill=MUTED, font_style="italic", **halo(band)))
    else:
        if low is not None and high is not None:
            group.add(
                el(
                    "line",
                    x1=x(low),
                    y1=y,
                    x2=x(high),
                    y2=y,
                    stroke=colour,
                    stroke_width=2,
                    class_="chart-error-bar",
                ),
                el("line", x1=x(low), y1=y - 5, x2=x(low), y2=y + 5, stroke=colour, stroke_width=2),
                el("line", x1=x(high), y1=y - 5, x2=x(high), y2=y + 5, stroke=colour, stroke_width=2),
            )
        group.add(
            el(
                "circle",
                cx=x(value),
                cy=y,
                r=4.5,
                fill=colour,
                stroke=BACKGROUND,
                stroke_width=1.5,
                class_="chart-estimate",
            ),
            el(
                "text",
                as_percent(value),
                x=VALUE_RIGHT,
                y=y + 4,
                text_anchor="end",
                font_weight=600,
                fill=VERMILLION if over else INK,
                class_="chart-value",
            ),
        )
    if row.get("note"):
        group.add(el("text", truncate(row["note"], NOTE_CHARS), x=NOTE_LEFT, y=y + 4, font_size=12, fill=MUTED))
    return group


def interval_bars(
    rows: Sequence[IntervalRow],
    *,
    title: str,
    axis_label: str,
    limit: float | None = None,
    empty_message: str = "Nothing to show yet",
) -> SafeString:
    """One row per generator, template version or run: a proportion's point
    estimate with its interval as an error bar, on a 0..0.05/0.1/0.25/0.5/1 axis."""
    if not rows:
        return empty_chart(kind="intervals", title=title, message=empty_message, width=WIDTH)
    top = proportion_axis_max(
        [limit, *(value for row in rows for value in (row.get("value"), row.get("low"), row.get("high")))]
    )
    x = Scale(0.0, top, PLOT_LEFT, PLOT_RIGHT)
    axis_y = ROWS_TOP + len(rows) * ROW_HEIGHT
    children = [title_text(title, WIDTH)]
    for index in range(1, len(rows), 2):
        y = ROWS_TOP + index * ROW_HEIGHT
        children.append(el("rect", x=0, y=y, width=WIDTH, height=ROW_HEIGHT, fill=ROW_BAND, class_="chart-band"))
    ticks = [t for t in nice_ticks(0.0, top) if t <= top + 1e-12]
    children += x_ticks(ticks, x, label=percent_tick, label_y=axis_y + 15, grid=(ROWS_TOP, axis_y))
    children += [
        baseline(left=PLOT_LEFT, right=PLOT_RIGHT, y=axis_y),
        x_axis_label(axis_label, left=PLOT_LEFT, right=PLOT_RIGHT, y=axis_y + 33),
    ]
    if limit is not None:
        at = x(limit)
        children += [
            limit_line((at, ROWS_TOP - 4), (at, axis_y)),
            limit_label(
                f"limit {percent_tick(limit)}",
                x=at,
                y=ROWS_TOP - 8,
                anchor=_limit_label_anchor(at, PLOT_LEFT, PLOT_RIGHT),
            ),
        ]
    children += [_interval_row(row, index, x, limit) for index, row in enumerate(rows)]
    description = "; ".join(f"{clean_text(row.get('label', ''))}: {_interval_text(row)}" for row in rows)
    if limit is not None:
        description += f". Limit {percent_tick(limit)}."
    return chart(
        kind="intervals",
        title=title,
        description=description,
        width=WIDTH,
        height=axis_y + 42,
        children=children,
    )


def sparkbar(
    value: float | None,
    *,
    label: str,
    low: float | None = None,
    high: float | None = None,
    axis_max: float = 1.0,
    limit: float | None = None,
) -> SafeString:
    """A 120×16 bar for a metrics table cell: the value as a bar, its interval
    as a whisker, and the limit as a tick."""
    x = Scale(0.0, axis_max, 1, SPARK_WIDTH - 1)
    middle = SPARK_HEIGHT / 2
    over = _over_limit(value, high, limit)
    children: list[Node] = [
        el("rect", x=0, y=middle - 3, width=SPARK_WIDTH, height=6, rx=3, fill=ROW_BAND, stroke=GRID)
    ]
    if value is not None:
        children.append(
            el(
                "rect",
                x=1,
                y=middle - 3,
                width=x(value) - 1,
                height=6,
                rx=2,
                fill=VERMILLION if over else BLUE,
            )
        )
        if low is not None and high is not None:
            children += [
                el("line", x1=x(low), y1=middle, x2=x(high), y2=middle, stroke=INK),
                el("line", x1=x(low), y1=middle - 4, x2=x(low), y2=middle + 4, stroke=INK),
                el("line", x1=x(high), y1=middle - 4, x2=x(high), y2=middle + 4, stroke=INK),
            ]
    if limit is not None:
        children.append(limit_line((x(limit), 0), (x(limit), SPARK_HEIGHT), dashes="2 2", kind=None))
    row: IntervalRow = {"label": label, "value": value, "low": low, "high": high}
    description = _interval_text(row) + (f", limit {percent_tick(limit)}" if limit is not None else "")
    return chart(
        kind="spark",
        title=f"{clean_text(label)}: {description}",
        description=description,
        width=SPARK_WIDTH,
        height=SPARK_HEIGHT,
        children=children,
        fixed_size=True,
    )
