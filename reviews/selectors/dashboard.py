"""What the leads' dashboard shows, read from stored snapshots, closed audits'
frozen figures and the per-project counters: nothing here scans samples, so
the page costs the same at a million samples as at a thousand.

Every figure is also a table of plain rows, downloadable as CSV and JSON.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db.models import F

from generation.models import Origin
from reviews.charts.trend import TrendSeries
from reviews.models import Alert, AlertChannel, Audit, QualitySnapshot, SnapshotScope
from reviews.quality.thresholds import Threshold, project_thresholds
from reviews.selectors.noise_floor import closed_audits, noise_floor_by, noise_floor_trend
from synthreview.projects.models import Project
from synthreview.projects.selectors.counters import sample_counts

# The scalar figures of a snapshot, in the metrics table's column order.
METRIC_COLUMNS: list[tuple[str, str, bool]] = [
    ("duplicate_share", "In duplicate groups", True),
    ("duplicate_within_share", "Repeats within scope", True),
    ("duplicate_real_share", "Duplicates real", True),
    ("low_novelty_share", "Low novelty", True),
    ("distinct_2", "Distinct-2", False),
    ("mean_pairwise_distance", "Dispersion", False),
    ("vendi_score", "Vendi", False),
    ("length_distance", "Length KS", False),
    ("label_divergence", "Label JS", False),
    ("frechet_to_real", "Fréchet to real", False),
    ("fidelity_precision", "Precision", True),
    ("fidelity_recall", "Recall", True),
    ("copy_share", "Copies", True),
    ("drift", "Run drift", False),
    ("drift_previous", "Drift vs previous window", False),
    ("window_to_real", "Window to real", False),
    ("drift_to_real_rise", "Away from real", False),
]
SNAPSHOT_HISTORY = 30


def latest_snapshots(project: Project) -> list[QualitySnapshot]:
    """The snapshots of the latest pass: one pass writes all its scopes with one timestamp."""
    latest = (
        QualitySnapshot.objects.filter(project=project)
        .order_by("-computed_at")
        .values_list("computed_at", flat=True)
        .first()
    )
    if latest is None:
        return []
    order: dict[str, int] = {SnapshotScope.PROJECT: 0, SnapshotScope.RUN: 1, SnapshotScope.GENERATOR: 2}
    rows = QualitySnapshot.objects.filter(project=project, computed_at=latest)
    return sorted(rows, key=lambda s: (order.get(s.scope, 9), s.scope_label))


def project_snapshot_history(project: Project) -> list[QualitySnapshot]:
    rows = QualitySnapshot.objects.filter(project=project, scope=SnapshotScope.PROJECT).order_by("-computed_at")
    return list(reversed(rows[:SNAPSHOT_HISTORY]))


def drift_history(project: Project, history: list[QualitySnapshot]) -> dict[str, list[TrendSeries]]:
    """Drift over the project's recent passes, as chart series: each window against the previous
    one (all synthetic samples, and each generator, imports included) with the run drift beside
    it; and each window's distance to the real anchors."""

    def series(name: str, points: list[tuple[datetime, float | None]]) -> TrendSeries:
        return {"name": name, "points": [(when, value, None, None) for when, value in points if value is not None]}

    previous = [
        series("All synthetic", [(s.computed_at, s.metrics.get("drift_previous")) for s in history]),
        series("Latest run vs earlier runs", [(s.computed_at, s.metrics.get("drift")) for s in history]),
    ]
    to_real = [series("All synthetic", [(s.computed_at, s.metrics.get("window_to_real")) for s in history])]
    if history:
        by_generator: dict[str, list] = {}
        rows = (
            QualitySnapshot.objects.filter(
                project=project, scope=SnapshotScope.GENERATOR, computed_at__gte=history[0].computed_at
            )
            .order_by("scope_label", "computed_at")
            .values_list("scope_label", "computed_at", "metrics__drift_previous", "metrics__window_to_real")
        )
        for label, when, drift_value, real_value in rows:
            by_generator.setdefault(label, []).append((when, drift_value, real_value))
        previous += [series(label, [(w, d) for w, d, _ in points]) for label, points in by_generator.items()]
        to_real += [series(label, [(w, r) for w, _, r in points]) for label, points in by_generator.items()]
    return {
        "previous": [line for line in previous if line["points"]],
        "to_real": [line for line in to_real if line["points"]],
    }


def latest_alerts(project: Project, *, limit: int = 20) -> list[Alert]:
    """The alerts the dashboard lists: open ones first (on every database), then by when they were
    acknowledged, newest first within each."""
    return list(
        Alert.objects.filter(project=project)
        .select_related("acknowledged_by")
        .order_by(F("acknowledged_at").asc(nulls_first=True), "-created_at")[:limit]
    )


def alert_channel_of(project: Project) -> AlertChannel | None:
    return AlertChannel.objects.filter(project=project).first()


def sample_mix(project: Project) -> dict[str, int]:
    counts = sample_counts(project)
    return {origin: counts.origin_total(origin) for origin in Origin.values}


def metrics_table(snapshots: list[QualitySnapshot], thresholds: dict[str, Threshold]) -> list[dict]:
    """One row per scope; each cell has its value, its limit where one is set, and whether it slipped."""
    rows = []
    for snapshot in snapshots:
        cells = []
        for metric, _, percent in METRIC_COLUMNS:
            value = snapshot.metrics.get(metric)
            threshold = thresholds.get(metric)
            cells.append(
                {
                    "metric": metric,
                    "value": value,
                    "percent": percent,
                    "limit": threshold.limit if threshold and threshold.enabled else None,
                    "direction": threshold.spec.direction if threshold else "",
                    "slipped": bool(threshold and threshold.slipped(value)),
                }
            )
        rows.append(
            {
                "scope": snapshot.get_scope_display(),
                "label": snapshot.scope_label,
                "samples": snapshot.sample_count,
                "cells": cells,
            }
        )
    return rows


def _histogram_bins(
    figure: dict | None, edges_key: str = "edges", counts_key: str = "counts"
) -> list[tuple[float, float, int]]:
    if not figure:
        return []
    edges, counts = figure.get(edges_key) or [], figure.get(counts_key) or []
    return [(edges[i], edges[i + 1], counts[i]) for i in range(min(len(counts), len(edges) - 1))]


def novelty_bins(snapshot: QualitySnapshot | None) -> list[tuple[float, float, int]]:
    return _histogram_bins(snapshot.metrics.get("novelty_histogram") if snapshot else None)


def nearest_real_bins(snapshot: QualitySnapshot | None) -> list[tuple[float, float, int]]:
    return _histogram_bins(snapshot.metrics.get("nearest_real") if snapshot else None)


# --- Downloadable figures: name -> rows -------------------------------------------------------------


def _noise_floor_rows(key: str) -> Callable[[Project], list[dict]]:
    def rows(project: Project) -> list[dict]:
        return [entry.as_row() for entry in noise_floor_by(project, key)]

    return rows


def _trend_rows(project: Project) -> list[dict]:
    return [
        {"generator": series["name"], "closed_at": when.isoformat(), "rate": rate, "low": low, "high": high}
        for series in noise_floor_trend(project, "generator")
        for when, rate, low, high in series["points"]
    ]


def _metric_rows(project: Project) -> list[dict]:
    rows = []
    for snapshot in latest_snapshots(project):
        row = {
            "scope": snapshot.scope,
            "scope_label": snapshot.scope_label,
            "computed_at": snapshot.computed_at.isoformat(),
            "samples": snapshot.sample_count,
        }
        row.update({metric: snapshot.metrics.get(metric) for metric, _, _ in METRIC_COLUMNS})
        rows.append(row)
    return rows


def _drift_rows(project: Project) -> list[dict]:
    lines = drift_history(project, project_snapshot_history(project))
    return [
        {"figure": figure, "scope": line["name"], "computed_at": when.isoformat(), "value": value}
        for figure, key in (("drift_previous", "previous"), ("window_to_real", "to_real"))
        for line in lines[key]
        for when, value, _, _ in line["points"]
    ]


def _metric_history_rows(project: Project) -> list[dict]:
    return [
        {"computed_at": s.computed_at.isoformat(), **{m: s.metrics.get(m) for m, _, _ in METRIC_COLUMNS}}
        for s in project_snapshot_history(project)
    ]


def _histogram_rows(which: Callable[[QualitySnapshot | None], list]) -> Callable[[Project], list[dict]]:
    def rows(project: Project) -> list[dict]:
        snapshot = next((s for s in latest_snapshots(project) if s.scope == SnapshotScope.PROJECT), None)
        return [{"low": low, "high": high, "count": count} for low, high, count in which(snapshot)]

    return rows


def _mix_rows(project: Project) -> list[dict]:
    return [{"origin": origin, "count": count} for origin, count in sample_mix(project).items()]


CLASS_BALANCE_COLUMNS = ("label", "real", "synthetic", "synthetic_share")


def _class_balance_rows(project: Project) -> list[dict]:
    snapshot = next((s for s in latest_snapshots(project) if s.scope == SnapshotScope.PROJECT), None)
    # jsonb stores an object's keys shortest first, so the columns are put back in reading order.
    return [
        {column: row.get(column) for column in CLASS_BALANCE_COLUMNS}
        for row in (snapshot.metrics.get("class_balance") or [] if snapshot else [])
    ]


def _audit_rows(project: Project) -> list[dict]:
    rows = []
    for audit in Audit.objects.filter(project=project).order_by("created_at", "id"):
        floor, agreement = audit.frozen_noise_floor, (audit.frozen_figures or {}).get("agreement", {})
        rows.append(
            {
                "audit": audit.name,
                "id": audit.pk,
                "scope": audit.scope,
                "status": audit.status,
                "closed_at": audit.closed_at.isoformat() if audit.closed_at else None,
                "items": audit.sample_size,
                "overlap": audit.overlap,
                "gold_items": audit.gold_items,
                "wrong": floor.wrong if floor else None,
                "judged": floor.judged if floor else None,
                "unsure": floor.unsure if floor else None,
                "rate": floor.rate if floor else None,
                "low": floor.low if floor else None,
                "high": floor.high if floor else None,
                "agreement_method": agreement.get("method"),
                "agreement": agreement.get("value"),
            }
        )
    return rows


def _reviewer_rows(project: Project) -> list[dict]:
    rows = []
    for audit in closed_audits(project):
        for reviewer in (audit.frozen_figures or {}).get("reviewers", []):
            rows.append(
                {
                    "audit": audit.name,
                    "reviewer": reviewer["username"],
                    "verdicts": reviewer["verdicts"],
                    "gold_seen": reviewer["gold_seen"],
                    "gold_matched": reviewer["gold_matched"],
                    "gold_accuracy": reviewer["gold_accuracy"],
                }
            )
    return rows


def _alert_rows(project: Project) -> list[dict]:
    return [
        {
            "created_at": a.created_at.isoformat(),
            "metric": a.metric,
            "scope": a.scope_label,
            "value": a.value,
            "limit": a.limit,
            "acknowledged": a.acknowledged_at is not None,
            "message": a.message,
        }
        for a in Alert.objects.filter(project=project).order_by("-created_at")[:500]
    ]


def _threshold_rows(project: Project) -> list[dict]:
    return [
        {
            "metric": metric,
            "label": t.spec.label,
            "direction": t.spec.direction,
            "limit": t.limit,
            "enabled": t.enabled,
            "custom": t.custom,
        }
        for metric, t in project_thresholds(project).items()
    ]


FIGURES: dict[str, tuple[str, Callable[[Project], list[dict]]]] = {
    "noise-floor-by-generator": ("Noise floor by generator", _noise_floor_rows("generator")),
    "noise-floor-by-template": ("Noise floor by template version", _noise_floor_rows("template_version")),
    "noise-floor-by-run": ("Noise floor by run", _noise_floor_rows("run")),
    "noise-floor-trend": ("Noise floor per generator over time", _trend_rows),
    "audits": ("Audits", _audit_rows),
    "reviewers": ("Reviewers' gold accuracy", _reviewer_rows),
    "quality-metrics": ("Quality metrics, latest snapshot", _metric_rows),
    "quality-history": ("Quality metrics over time", _metric_history_rows),
    "drift-history": ("Drift over time", _drift_rows),
    "novelty-histogram": ("Novelty histogram", _histogram_rows(novelty_bins)),
    "nearest-real-histogram": ("Similarity to the nearest real sample", _histogram_rows(nearest_real_bins)),
    "mix": ("Real and synthetic samples", _mix_rows),
    "class-balance": ("Class balance", _class_balance_rows),
    "thresholds": ("Thresholds", _threshold_rows),
    "alerts": ("Alerts", _alert_rows),
}


def figure_rows(project: Project, name: str) -> list[dict] | None:
    entry = FIGURES.get(name)
    return entry[1](project) if entry else None
