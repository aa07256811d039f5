"""A tiny SVG element builder that escapes every attribute value and text node.

Chart text is untrusted (generator, template and label names come from users'
data), so nothing is ever pasted into markup as a string: `render` is the one
place that marks output safe, after escaping everything it was given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

SVG_NAMESPACE = "http://www.w3.org/2000/svg"

# Colours mirror the variables in app.css, because presentation attributes
# cannot read CSS variables; the charts stay legible when saved on their own.
INK = "#1d2430"
MUTED = "#667085"
GRID = "#e4e7ec"
AXIS = "#98a2b3"
ROW_BAND = "#f6f7f9"
BACKGROUND = "#ffffff"

# Okabe & Ito (2008), "Color Universal Design": distinguishable with the common
# colour-vision deficiencies. Yellow and black last: yellow is faint on white.
PALETTE = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)
BLUE = PALETTE[0]
VERMILLION = PALETTE[3]
# Limits are drawn in ink, not in a palette colour, so a limit line is never
# mistaken for a series.
LIMIT = "#344054"

FONT_SIZE = 13
# Average advance of system-ui glyphs, in ems; enough to lay out legends and
# truncate labels without measuring text in a browser.
AVERAGE_GLYPH_EM = 0.56

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9:-]*")
# XML 1.0 forbids these even as character references; a label carrying one
# would make the whole page's SVG malformed, so they are dropped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass
class Node:
    tag: str
    attrs: dict[str, object] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    def add(self, *children: Node | str | None) -> Node:
        self.children.extend(child for child in children if child is not None)
        return self


def el(tag: str, *children: Node | str | None, **attrs: object) -> Node:
    """An element: `class_` becomes `class`, `stroke_width` becomes `stroke-width`;
    attributes whose value is None are left out."""
    if not _NAME.fullmatch(tag):
        raise ValueError(f"not an element name: {tag!r}")
    names = {key.rstrip("_").replace("_", "-"): value for key, value in attrs.items()}
    for name in names:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not an attribute name: {name!r}")
    return Node(tag, names).add(*children)


def num(value: float) -> str:
    """Coordinates to two decimals: a hundredth of a pixel is finer than any screen."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def clean_text(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def truncate(value: object, limit: int) -> str:
    text = " ".join(clean_text(value).split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * AVERAGE_GLYPH_EM


def text_colour_on(fill: str) -> str:
    """Ink on light fills, white on dark ones (WCAG relative luminance)."""
    channels = [int(fill[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return INK if luminance > 0.33 else BACKGROUND


def _attribute(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return num(value)
    return escape(clean_text(value))


def _write(node: Node | str, out: list[str]) -> None:
    if isinstance(node, str):
        out.append(escape(clean_text(node)))
        return
    out.append("<" + node.tag)
    for name, value in node.attrs.items():
        if value is not None:
            out.append(f' {name}="{_attribute(value)}"')
    if not node.children:
        out.append("/>")
        return
    out.append(">")
    for child in node.children:
        _write(child, out)
    out.append(f"</{node.tag}>")


def render(root: Node) -> SafeString:
    out: list[str] = []
    _write(root, out)
    # Safe because _write escaped every text node and attribute value above.
    return mark_safe("".join(out))


def chart(
    *,
    kind: str,
    title: str,
    description: str,
    width: int,
    height: float,
    children: list[Node],
    fixed_size: bool = False,
) -> SafeString:
    """The outer <svg>: scales to its container through the viewBox (unless
    `fixed_size`, for a table cell), and is an image with a name (title) and a
    description (desc) for screen readers."""
    root = el(
        "svg",
        xmlns=SVG_NAMESPACE,
        viewBox=f"0 0 {width} {num(height)}",
        width=width if fixed_size else "100%",
        height=height if fixed_size else None,
        role="img",
        aria_label=truncate(title, 200),
        class_=f"chart chart-{kind}",
        font_size=FONT_SIZE,
        fill=INK,
    )
    root.add(el("title", truncate(title, 200)), el("desc", description), *children)
    return render(root)


def title_text(title: str, width: int) -> Node:
    limit = int(width / (14 * AVERAGE_GLYPH_EM))
    return el("text", truncate(title, limit), x=0, y=17, font_size=14, font_weight=600, class_="chart-title")


def y_axis_label(text: str, middle: float) -> Node:
    """The y axis's label, turned to run up the left edge beside the plot."""
    return el(
        "text",
        text,
        x=14,
        y=middle,
        text_anchor="middle",
        fill=MUTED,
        transform=f"rotate(-90 14 {num(middle)})",
        class_="chart-axis-label",
    )


def halo(colour: str) -> dict[str, object]:
    """Attributes that outline text in the colour behind it, so lines crossing
    the text stop short of the glyphs."""
    return {
        "stroke": colour,
        "stroke_width": 4,
        "stroke_linejoin": "round",
        "paint_order": "stroke",
    }


def empty_chart(*, kind: str, title: str, message: str, width: int) -> SafeString:
    """A chart with no data says so in words, where the plot would be."""
    return chart(
        kind=kind,
        title=title,
        description=message,
        width=width,
        height=72,
        children=[
            title_text(title, width),
            el("rect", x=0, y=26, width=width, height=42, rx=6, fill=ROW_BAND, class_="chart-empty-band"),
            el("text", message, x=width / 2, y=51, text_anchor="middle", fill=MUTED, class_="chart-empty"),
        ],
    )


LEGEND_ROW = 20


def legend(
    entries: list[tuple[str, str, str]], *, top: float, width: int, line_marker: bool = False
) -> tuple[Node, float]:
    """Legend entries (colour, text, tooltip) laid left to right, wrapping to a
    new row when the next would overflow; returns the group and its bottom edge."""
    group = el("g", class_="chart-legend")
    x, y = 0.0, top + LEGEND_ROW / 2
    for colour, text, tooltip in entries:
        item_width = 18 + text_width(text) + 18
        if x > 0 and x + item_width > width:
            x, y = 0.0, y + LEGEND_ROW
        if line_marker:
            swatch = el(
                "g",
                el("line", x1=x, y1=y, x2=x + 14, y2=y, stroke=colour, stroke_width=2),
                el("circle", cx=x + 7, cy=y, r=3, fill=colour),
            )
        else:
            swatch = el("rect", x=x + 2, y=y - 5, width=10, height=10, rx=2, fill=colour)
        group.add(el("g", el("title", tooltip), swatch, el("text", text, x=x + 18, y=y + 4)))
        x += item_width
    return group, y + LEGEND_ROW / 2
