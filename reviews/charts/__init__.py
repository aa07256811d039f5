"""Server-side SVG charts for the pages leads watch: no JavaScript, no CDN.

Every function takes plain Python data and returns a SafeString that a template
includes as `{{ chart }}`. All text in a chart comes from users' data, so the
markup is built with `svg.el`, which escapes every attribute and text node, and
nothing carries a style attribute (the CSP allows no inline styles).
"""

from __future__ import annotations

from .histogram import histogram
from .intervals import IntervalRow, interval_bars, sparkbar
from .scales import nice_ticks
from .scatter import ScatterSeries, share_scatter
from .share import stacked_share
from .trend import TrendSeries, trend_lines

__all__ = [
    "ScatterSeries",
    "share_scatter",
    "IntervalRow",
    "TrendSeries",
    "histogram",
    "interval_bars",
    "nice_ticks",
    "sparkbar",
    "stacked_share",
    "trend_lines",
]
