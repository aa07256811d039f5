"""The dashboard's quality figures in four narrower tables, and the summary at its top:
what slipped past its limit, each entry pointing at the table or chart that shows it.
Plain data from rows the dashboard has read already: no query here."""

from __future__ import annotations

from dataclasses import dataclass, field

from reviews.quality.thresholds import COPY_SIMILARITY, LENGTH_TOLERANCE, Threshold
from reviews.selectors.dashboard import METRIC_COLUMNS

# id (the card's anchor), title, and the figures it shows, in METRIC_COLUMNS' order within each.
METRIC_GROUPS: list[tuple[str, str, list[str]]] = [
    (
        "duplication",
        "Duplication and novelty",
        ["duplicate_share", "duplicate_within_share", "duplicate_real_share", "low_novelty_share"],
    ),
    ("diversity", "Diversity", ["distinct_2", "mean_pairwise_distance", "vendi_score"]),
    (
        "fidelity",
        "Fidelity to the real anchors",
        ["length_distance", "label_divergence", "frechet_to_real", "fidelity_precision", "fidelity_recall"],
    ),
    (
        "privacy-drift",
        "Privacy and drift",
        ["copy_share", "drift", "drift_previous", "window_to_real", "drift_to_real_rise"],
    ),
]

METRIC_NOTES: dict[str, str] = {
    "duplicate_share": "share in an exact or near-duplicate group with any other sample (same generator, "
    "another generator, or real)",
    "duplicate_within_share": "share in a group with another sample of the same scope",
    "duplicate_real_share": "share in a group with a real sample",
    "low_novelty_share": "share in low-novelty clusters",
    "distinct_2": "distinct word bigrams over all bigrams",
    "mean_pairwise_distance": "mean pairwise cosine distance",
    "vendi_score": "effective number of distinct samples",
    "length_distance": "Kolmogorov–Smirnov distance of output lengths to the real anchors of the same label; "
    f"lengths within a factor of {LENGTH_TOLERANCE:g} count as alike; — where no real anchor has the scope's labels",
    "label_divergence": "Jensen–Shannon divergence between the labels and the real anchors' labels",
    "frechet_to_real": "distance between Gaussians fitted to synthetic and real embeddings",
    "fidelity_precision": "share of synthetic samples inside the real samples' k-NN manifold (Kynkäänniemi et al. 2019)",
    "fidelity_recall": "share of real samples covered by the synthetic samples' manifold",
    "copy_share": f"nearest real sample at a cosine similarity of {COPY_SIMILARITY} or more, among the samples "
    "that have a nearest real sample",
    "drift": "Fréchet distance of a run to the runs before it (for all synthetic samples, the latest run's)",
    "drift_previous": "Fréchet distance of the samples new since the previous snapshot to the previous window",
    "window_to_real": "Fréchet distance of that window to the real anchors",
    "drift_to_real_rise": "how much that distance grew since the previous window",
}

_COLUMNS = {metric: (label, percent) for metric, label, percent in METRIC_COLUMNS}


@dataclass
class Column:
    metric: str
    label: str
    percent: bool
    note: str
    limit: float | None
    direction: str


@dataclass
class MetricGroup:
    key: str
    title: str
    columns: list[Column]
    rows: list[dict]
    slipped: int


def _column(metric: str, thresholds: dict[str, Threshold]) -> Column:
    label, percent = _COLUMNS[metric]
    threshold = thresholds.get(metric)
    on = threshold is not None and threshold.enabled
    return Column(
        metric=metric,
        label=label,
        percent=percent,
        note=METRIC_NOTES.get(metric, ""),
        limit=threshold.limit if threshold is not None and on else None,
        direction=threshold.spec.direction if threshold is not None else "",
    )


def metric_groups(table: list[dict], thresholds: dict[str, Threshold]) -> list[MetricGroup]:
    """`metrics_table`'s rows split into the four groups; the limit goes in each column's head,
    since every scope has the same limit."""
    groups = []
    for key, title, metrics in METRIC_GROUPS:
        rows = []
        slipped = 0
        for row in table:
            cells = {cell["metric"]: cell for cell in row["cells"]}
            picked = [{**cells[metric], "label": _COLUMNS[metric][0]} for metric in metrics]
            slipped += sum(1 for cell in picked if cell["slipped"])
            rows.append({"scope": row["scope"], "label": row["label"], "samples": row["samples"], "cells": picked})
        groups.append(
            MetricGroup(
                key=key,
                title=title,
                columns=[_column(metric, thresholds) for metric in metrics],
                rows=rows,
                slipped=slipped,
            )
        )
    return groups


@dataclass
class SlippedFigure:
    """One figure past its limit, with every scope where it is, and where the page shows it."""

    label: str
    anchor: str
    limit: float
    direction: str
    percent: bool
    scopes: list[dict] = field(default_factory=list)


def slipped_figures(groups: list[MetricGroup], generators: list[dict], noise_floor_limit: float) -> list[SlippedFigure]:
    """The noise floor of each generator whose interval's upper bound is over the project's
    limit, then each quality figure that slipped on some scope, in the tables' order."""
    found = []
    over = [row for row in generators if row.get("high") is not None and row["high"] > noise_floor_limit]
    if over:
        found.append(
            SlippedFigure(
                label="Noise floor (upper bound of the 95% interval)",
                anchor="noise-floor",
                limit=noise_floor_limit,
                direction="max",
                percent=True,
                scopes=[{"scope": "Generator", "label": row["label"], "value": row["high"]} for row in over],
            )
        )
    for group in groups:
        for index, column in enumerate(group.columns):
            scopes = [
                {"scope": row["scope"], "label": row["label"], "value": row["cells"][index]["value"]}
                for row in group.rows
                if row["cells"][index]["slipped"]
            ]
            if scopes and column.limit is not None:
                found.append(
                    SlippedFigure(
                        label=column.label,
                        anchor=f"metrics-{group.key}",
                        limit=column.limit,
                        direction=column.direction,
                        percent=column.percent,
                        scopes=scopes,
                    )
                )
    return found
