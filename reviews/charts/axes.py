"""What every plot draws around its data: grid lines with their tick labels, the baseline,
the x axis's label, and limit lines (a threshold, a noise-floor limit) with theirs."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .scales import Scale
from .svg import AXIS, GRID, LIMIT, MUTED, Node, el, halo

TICK_FONT_SIZE = 12


def y_grid(
    ticks: Iterable[float], y: Scale, *, left: float, right: float, label: Callable[[float], str], gap: float
) -> list[Node]:
    """A grid line across the plot at each tick, its label `gap` left of the plot."""
    nodes: list[Node] = []
    for tick in ticks:
        nodes += [
            el("line", x1=left, y1=y(tick), x2=right, y2=y(tick), stroke=GRID, class_="chart-grid"),
            el(
                "text",
                label(tick),
                x=left - gap,
                y=y(tick) + 4,
                text_anchor="end",
                font_size=TICK_FONT_SIZE,
                fill=MUTED,
            ),
        ]
    return nodes


def x_ticks(
    ticks: Iterable[float],
    x: Scale,
    *,
    label: Callable[[float], str],
    label_y: float,
    grid: tuple[float, float] | None = None,
) -> list[Node]:
    """Each tick's label centred under it at `label_y`; with `grid` (top, bottom), a grid line too."""
    nodes: list[Node] = []
    for tick in ticks:
        if grid is not None:
            nodes.append(el("line", x1=x(tick), y1=grid[0], x2=x(tick), y2=grid[1], stroke=GRID, class_="chart-grid"))
        nodes.append(
            el(
                "text",
                label(tick),
                x=x(tick),
                y=label_y,
                text_anchor="middle",
                font_size=TICK_FONT_SIZE,
                fill=MUTED,
            )
        )
    return nodes


def baseline(*, left: float, right: float, y: float) -> Node:
    return el("line", x1=left, y1=y, x2=right, y2=y, stroke=AXIS, class_="chart-axis")


def x_axis_label(text: str, *, left: float, right: float, y: float) -> Node:
    return el(
        "text",
        text,
        x=(left + right) / 2,
        y=y,
        text_anchor="middle",
        fill=MUTED,
        class_="chart-axis-label",
    )


def limit_line(
    start: tuple[float, float],
    end: tuple[float, float],
    *,
    colour: str = LIMIT,
    dashes: str = "4 3",
    kind: str | None = "chart-limit",
) -> Node:
    """A dashed line across the plot at a limit; `kind` is its class, for tests and styles."""
    return el(
        "line",
        x1=start[0],
        y1=start[1],
        x2=end[0],
        y2=end[1],
        stroke=colour,
        stroke_width=1.5,
        stroke_dasharray=dashes,
        class_=kind,
    )


def limit_label(
    text: str,
    *,
    x: float,
    y: float,
    anchor: str,
    colour: str = LIMIT,
    bold: bool = False,
    kind: str = "chart-limit-label",
    halo_on: str | None = None,
) -> Node:
    """A limit line's label; with `halo_on` (the colour behind it), outlined so the line stops short of it."""
    return el(
        "text",
        text,
        x=x,
        y=y,
        text_anchor=anchor,
        font_size=TICK_FONT_SIZE,
        font_weight=600 if bold else None,
        fill=colour,
        class_=kind,
        **(halo(halo_on) if halo_on is not None else {}),
    )


def beside(at: float, *, left: float, right: float) -> tuple[float, str]:
    """Where a vertical line's label starts, and its anchor: 4 px off the line, on the side
    with more room, so a label near the right edge runs leftwards."""
    if at > (left + right) / 2:
        return at - 4, "end"
    return at + 4, "start"
