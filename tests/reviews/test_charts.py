"""Server-side SVG charts: well-formed, escaped, and drawn where the numbers say.

Expected coordinates are worked out by hand from the plot geometry, never read
back from the charts' own scale code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest
from django.template import Context, Template
from django.utils.safestring import SafeString

from reviews.charts import histogram, interval_bars, nice_ticks, sparkbar, stacked_share, trend_lines

SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>\"onload=alert(2) 'x' & co"
OKABE_ITO = {"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"}

NOISE_FLOOR_ROW = {
    "label": "gpt-4o-mini",
    "value": 0.083,
    "low": 0.036,
    "high": 0.181,
    "note": "5 of 60 wrong",
}


def parse(chart: str) -> ET.Element:
    return ET.fromstring(str(chart))


def elements(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(SVG + tag))


def texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in elements(root, "text")]


def classed(root: ET.Element, name: str) -> list[ET.Element]:
    return [node for node in root.iter() if name in (node.get("class") or "").split()]


def every_chart(label: str = "gen-a") -> list[SafeString]:
    return [
        interval_bars([{**NOISE_FLOOR_ROW, "label": label}], title=label, axis_label=label, limit=0.1),
        interval_bars([], title=label, axis_label=label),
        trend_lines(
            [
                {
                    "name": label,
                    "points": [(date(2025, 3, 1), 0.1, 0.05, 0.2), (date(2025, 3, 8), 0.08, 0.04, 0.15)],
                }
            ],
            title=label,
            y_label=label,
            limit=0.1,
        ),
        trend_lines([], title=label, y_label=label),
        histogram([(0.9, 0.95, 3), (0.95, 1.0, 2)], title=label, x_label=label, highlight_from=0.95),
        histogram([], title=label, x_label=label),
        stacked_share([(label, 3), ("real", 1)], title=label),
        stacked_share([], title=label),
        sparkbar(0.083, label=label, low=0.036, high=0.181, axis_max=0.25, limit=0.1),
    ]


@pytest.mark.parametrize("chart", every_chart(EVIL))
def test_untrusted_text_comes_back_escaped_and_intact(chart):
    root = parse(chart)  # a raw "<script>" or a broken quote would not parse
    assert not [node for node in root.iter() if node.tag.endswith("script")]
    assert "<script" not in chart
    # The sparkbar's name goes on to give its value; every other chart's is its title.
    assert root.get("aria-label").startswith(EVIL)
    assert elements(root, "title")[0].text.startswith(EVIL)
    assert not [name for node in root.iter() for name in node.attrib if name.lower().startswith("on")]


@pytest.mark.parametrize("chart", every_chart())
def test_charts_carry_no_inline_styles_because_the_csp_forbids_them(chart):
    root = parse(chart)
    assert not [node for node in root.iter() if "style" in node.attrib]
    assert not elements(root, "style")


@pytest.mark.parametrize("chart", every_chart())
def test_charts_are_images_with_a_name_and_a_description(chart):
    root = parse(chart)
    assert root.tag == SVG + "svg"
    assert root.get("role") == "img"
    assert [child.tag for child in root][:2] == [SVG + "title", SVG + "desc"]
    assert root.find(SVG + "desc").text


def test_a_template_includes_a_chart_without_the_safe_filter():
    chart = interval_bars([NOISE_FLOOR_ROW], title="Noise floor", axis_label="wrong share")
    assert isinstance(chart, SafeString)
    assert Template("{{ chart }}").render(Context({"chart": chart})) == str(chart)


def test_control_characters_in_a_label_are_dropped_so_the_svg_stays_well_formed():
    chart = interval_bars([{**NOISE_FLOOR_ROW, "label": "gen\x00-\x1bb"}], title="t", axis_label="x")
    assert "gen-b" in texts(parse(chart))


def test_error_bar_lands_on_hand_computed_pixels():
    # The plot runs from x=208 to x=468: 260 units for a 0..0.25 axis (the highest
    # bound, 0.181, rounds up to 0.25), so x = 208 + 1040 * v:
    #   value 0.083 → 208 + 86.32  = 294.32
    #   low   0.036 → 208 + 37.44  = 245.44
    #   high  0.181 → 208 + 188.24 = 396.24
    root = parse(interval_bars([NOISE_FLOOR_ROW], title="Noise floor", axis_label="wrong share"))
    [bar] = classed(root, "chart-error-bar")
    assert float(bar.get("x1")) == pytest.approx(245.44, abs=0.01)
    assert float(bar.get("x2")) == pytest.approx(396.24, abs=0.01)
    [estimate] = classed(root, "chart-estimate")
    assert float(estimate.get("cx")) == pytest.approx(294.32, abs=0.01)
    assert float(estimate.get("cy")) == float(bar.get("y1")) == float(bar.get("y2"))


def test_interval_axis_is_labelled_in_percent_up_to_a_nice_maximum():
    root = parse(interval_bars([NOISE_FLOOR_ROW], title="Noise floor", axis_label="wrong share"))
    assert {"0%", "5%", "10%", "15%", "20%", "25%"} <= set(texts(root))
    assert "30%" not in texts(root)


def test_a_noise_floor_note_over_several_audits_is_shown_whole():
    row = {"label": "arith-careful", "value": 0.013, "low": 0.004, "high": 0.047, "note": "2 wrong of 152 in 3 audits"}
    root = parse(interval_bars([row], title="Noise floor", axis_label="wrong share"))
    assert "2 wrong of 152 in 3 audits" in texts(root)


def test_threshold_line_is_drawn_at_the_limit():
    # 0.10 on the same 0..0.25 axis: 208 + 1040 * 0.10 = 312.
    root = parse(interval_bars([NOISE_FLOOR_ROW], title="Noise floor", axis_label="wrong share", limit=0.10))
    [line] = classed(root, "chart-limit")
    assert float(line.get("x1")) == float(line.get("x2")) == pytest.approx(312)
    assert line.get("stroke-dasharray")
    assert "limit 10%" in texts(root)


def test_a_row_above_the_limit_is_marked_in_words_not_only_colour():
    row = {"label": "llama", "value": 0.175, "low": 0.11, "high": 0.27}
    root = parse(interval_bars([row], title="t", axis_label="x", limit=0.10))
    [group] = classed(root, "chart-row")
    assert "chart-over-limit" in group.get("class")
    assert group.find(SVG + "title").text.endswith("above the limit")


def test_a_generator_without_verdicts_says_so_instead_of_drawing_a_dot():
    rows = [NOISE_FLOOR_ROW, {"label": "mistral", "value": None, "low": None, "high": None}]
    root = parse(interval_bars(rows, title="Noise floor", axis_label="wrong share"))
    assert "no verdicts" in texts(root)
    assert len(classed(root, "chart-estimate")) == 1


def test_a_long_label_is_cut_with_an_ellipsis_and_kept_whole_in_the_tooltip():
    label = "claude-haiku / template v3 (long-form reasoning)"
    root = parse(interval_bars([{**NOISE_FLOOR_ROW, "label": label}], title="t", axis_label="x"))
    [group] = classed(root, "chart-row")
    assert group.find(SVG + "title").text.startswith(label + ": 8.3%")
    assert "claude-haiku / template v3…" in texts(root)


@pytest.mark.parametrize(
    ("chart", "message"),
    [
        (interval_bars([], title="Noise floor", axis_label="x"), "Nothing to show yet"),
        (trend_lines([], title="Trend", y_label="y"), "No closed audits yet"),
        (trend_lines([{"name": "gen-a", "points": []}], title="Trend", y_label="y"), "No closed audits yet"),
        (
            trend_lines([{"name": "a", "points": [(date(2025, 1, 1), None, None, None)]}], title="T", y_label="y"),
            "No closed audits yet",
        ),
        (histogram([], title="Similarity", x_label="cosine"), "Nothing measured yet"),
        (
            histogram([(0.0, 0.5, 0), (0.5, 1.0, 0)], title="Similarity", x_label="cosine"),
            "Nothing measured yet",
        ),
        (stacked_share([], title="Mix"), "Nothing counted yet"),
        (stacked_share([("real", 0), ("synthetic", 0)], title="Mix"), "Nothing counted yet"),
    ],
)
def test_empty_input_renders_a_message_not_a_crash(chart, message):
    assert message in texts(parse(chart))


def test_histogram_bar_heights_are_proportional_to_counts():
    bins = [(0.80, 0.85, 3), (0.85, 0.90, 12), (0.90, 0.95, 6), (0.95, 1.00, 1)]
    root = parse(histogram(bins, title="Nearest neighbour", x_label="cosine similarity"))
    heights = [float(bar.get("height")) for bar in classed(root, "chart-bar")]
    counts = [3, 12, 6, 1]
    per_count = heights[1] / 12
    assert heights == pytest.approx([count * per_count for count in counts], abs=0.02)
    # The y axis tops out at 15 (whole steps of 5 above the count of 12); the plot is 180 tall.
    assert max(heights) == pytest.approx(180 * 12 / 15, abs=0.01)
    assert "15" in texts(root)


def test_histogram_highlights_bins_at_or_above_the_copy_threshold():
    bins = [(0.85, 0.90, 4), (0.90, 0.95, 6), (0.95, 1.00, 9)]
    root = parse(histogram(bins, title="t", x_label="cosine", highlight_from=0.95))
    bars = classed(root, "chart-bar")
    assert ["chart-highlight" in bar.get("class") for bar in bars] == [False, False, True]
    assert bars[2].get("fill") != bars[0].get("fill")
    assert "≥ 0.95: 9" in texts(root)


@pytest.mark.parametrize("counts", [[1240, 3760], [1, 1, 1], [7, 0, 2, 5, 1, 1, 3, 2, 9, 4]])
def test_stacked_shares_fill_exactly_the_full_width(counts):
    root = parse(stacked_share([(f"part {i}", count) for i, count in enumerate(counts)], title="Mix"))
    segments = [group.find(SVG + "rect") for group in classed(root, "chart-segment")]
    widths = [float(rect.get("width")) for rect in segments]
    assert sum(widths) == pytest.approx(640, abs=1e-6)
    assert float(segments[0].get("x")) == 0
    total = sum(counts)
    assert widths == pytest.approx([640 * count / total for count in counts if count], abs=0.02)


def test_stacked_share_legend_gives_counts_and_percentages():
    root = parse(stacked_share([("real", 1240), ("synthetic", 3760)], title="Real vs synthetic"))
    assert "real 1,240 (24.8%)" in texts(root)
    assert "synthetic 3,760 (75.2%)" in texts(root)


def test_trend_with_one_point_renders_a_marker_its_whisker_and_its_date(settings):
    settings.TIME_ZONE = "Europe/Paris"
    when = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
    series = [{"name": "gen-a", "points": [(when, 0.083, 0.036, 0.181)]}]
    root = parse(trend_lines(series, title="Noise floor", y_label="wrong share"))
    assert len(classed(root, "chart-point")) == 1
    assert len(classed(root, "chart-whisker")) == 1
    assert not classed(root, "chart-line")
    assert "4 Mar 2025 16:30" in texts(root)  # in the lead's time zone, not UTC


def test_trend_series_get_distinct_okabe_ito_colours_and_a_legend():
    series = [
        {"name": name, "points": [(date(2025, 1, 6), 0.1, 0.05, 0.2), (date(2025, 1, 20), 0.08, 0.04, 0.15)]}
        for name in ("gen-a", "gen-b", "gen-c")
    ]
    root = parse(trend_lines(series, title="Noise floor", y_label="wrong share", limit=0.1))
    colours = [line.get("stroke") for line in classed(root, "chart-line")]
    assert len(set(colours)) == 3
    assert set(colours) <= OKABE_ITO
    assert len(classed(root, "chart-band")) == 3
    assert {"gen-a", "gen-b", "gen-c", "limit 10%"} <= set(texts(root))


def test_trend_labels_dates_compactly():
    points = [(date(2025, 1, 6), 0.1, None, None), (date(2025, 3, 3), 0.05, None, None)]
    labels = texts(parse(trend_lines([{"name": "a", "points": points}], title="t", y_label="y")))
    assert {"6 Jan", "20 Jan", "3 Feb", "17 Feb", "3 Mar"} <= set(labels)


def test_nice_ticks_step_by_round_numbers():
    assert nice_ticks(0, 0.25) == pytest.approx([0, 0.05, 0.10, 0.15, 0.20, 0.25])
    assert nice_ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert nice_ticks(0, 37) == [0, 10, 20, 30, 40]
    assert nice_ticks(0, 12, integer=True) == [0, 5, 10, 15]
    assert nice_ticks(0, 1, integer=True) == [0, 1]


def test_nice_ticks_refuses_infinite_bounds():
    with pytest.raises(ValueError):
        nice_ticks(0, float("inf"))
