"""The noise floor across a project's closed audits: pooled per generator,
template version and run, its trend over time, and comparisons of two.

It reads the figures each audit froze on closing, never the verdicts, so
later edits cannot move a published number. An item drawn into two audits
counts in both: each audit is its own measurement.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from statistics import NormalDist

from reviews.charts.trend import Point, TrendSeries
from reviews.metrics import NoiseFloor, fisher_exact
from reviews.models import Audit, AuditStatus
from synthreview.projects.models import Project

SIGNIFICANCE = 0.05


def closed_audits(project: Project) -> list[Audit]:
    return list(
        Audit.objects.filter(project=project, status=AuditStatus.CLOSED, frozen_figures__isnull=False).order_by(
            "closed_at", "id"
        )
    )


@dataclass
class PooledFloor:
    key: str
    ident: int | None
    label: str
    correct: int = 0
    wrong: int = 0
    unsure: int = 0
    split: int = 0
    audits: int = 0

    @property
    def floor(self) -> NoiseFloor:
        return NoiseFloor(correct=self.correct, wrong=self.wrong, unsure=self.unsure + self.split)

    def as_row(self) -> dict:
        floor = self.floor
        low, high = floor.interval
        judged = floor.judged
        return {
            self.key: self.label,
            "label": self.label,
            "id": self.ident,
            "audits": self.audits,
            "correct": self.correct,
            "wrong": self.wrong,
            "unsure": self.unsure,
            "split": self.split,
            "judged": judged,
            "rate": floor.rate,
            "low": low if judged else None,
            "high": high if judged else None,
        }


def noise_floor_by(project: Project, key: str, audits: list[Audit] | None = None) -> list[PooledFloor]:
    """Pooled counts per generator / template_version / run over the closed audits."""
    pooled: dict[int | None, PooledFloor] = {}
    for audit in audits if audits is not None else closed_audits(project):
        for row in audit.frozen_breakdown(key) or []:
            entry = pooled.setdefault(row.id, PooledFloor(key=key, ident=row.id, label=row.label))
            entry.audits += 1
            entry.correct += row.floor.correct
            entry.wrong += row.floor.wrong
            entry.unsure += row.floor.unsure
            entry.split += row.floor.split
    return sorted(pooled.values(), key=lambda entry: entry.label)


def noise_floor_trend(project: Project, key: str = "generator", audits: list[Audit] | None = None) -> list[TrendSeries]:
    """One series per generator (or other breakdown): its noise floor in each closed audit, in time order."""
    names: dict[int | None, str] = {}
    points: dict[int | None, list[Point]] = {}
    for audit in audits if audits is not None else closed_audits(project):
        if audit.closed_at is None:
            continue  # closing sets it with the frozen figures: an audit without it has nothing to plot
        for row in audit.frozen_breakdown(key) or []:
            if not row.floor.judged:
                continue
            names.setdefault(row.id, row.label)
            points.setdefault(row.id, []).append((audit.closed_at, row.floor.rate, row.floor.low, row.floor.high))
    series: list[TrendSeries] = [{"name": name, "points": points[ident]} for ident, name in names.items()]
    return sorted(series, key=lambda entry: entry["name"])


@dataclass(frozen=True)
class Comparison:
    first: PooledFloor
    second: PooledFloor
    p_value: float | None
    detectable: float | None

    @property
    def difference(self) -> float | None:
        a, b = self.first.floor.rate, self.second.floor.rate
        return None if a is None or b is None else a - b

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < SIGNIFICANCE

    @property
    def sentence(self) -> str:
        if self.p_value is None:
            return "One of them has no judged audit items yet, so there is nothing to compare."
        a, b = self.first, self.second
        if self.significant:
            worse, better = (a, b) if (self.difference or 0) > 0 else (b, a)
            return (
                f"{worse.label} is noisier than {better.label}: the difference is unlikely to be chance "
                f"(Fisher's exact test, p = {self.p_value:.3f})."
            )
        size = f" about {self.detectable * 100:.0f} percentage points" if self.detectable is not None else ""
        return (
            f"These audits are too small to tell {a.label} and {b.label} apart (Fisher's exact test, "
            f"p = {self.p_value:.2f}). With {a.floor.judged} and {b.floor.judged} judged items they can only "
            f"detect a difference of{size} or more."
        )


def _detectable_difference(n1: int, n2: int, pooled_rate: float, power: float = 0.8) -> float | None:
    """The smallest difference in error rates these sample sizes detect with 80% power at the 5% level
    (normal approximation, Fleiss, Levin & Paik 2003, ch. 4): a plain-language scale for "too small"."""
    if not n1 or not n2:
        return None
    rate = min(max(pooled_rate, 0.01), 0.99)
    z = NormalDist().inv_cdf(1 - SIGNIFICANCE / 2) + NormalDist().inv_cdf(power)
    return z * math.sqrt(rate * (1 - rate) * (1 / n1 + 1 / n2))


def noise_floor_compare(project: Project, key: str, first_id: int, second_id: int) -> Comparison | None:
    """Fisher's exact test on the pooled 2×2 table (wrong/correct × first/second). Exact rather than the
    two-proportion z-test because audits are small and error rates low: expected counts under 5 are
    common, where the z-test's normal approximation is unreliable."""
    rows = {entry.ident: entry for entry in noise_floor_by(project, key)}
    first, second = rows.get(first_id), rows.get(second_id)
    if first is None or second is None:
        return None
    if not first.floor.judged or not second.floor.judged:
        return Comparison(first, second, None, None)
    p_value = fisher_exact(first.wrong, first.correct, second.wrong, second.correct)
    pooled = (first.wrong + second.wrong) / (first.floor.judged + second.floor.judged)
    return Comparison(first, second, p_value, _detectable_difference(first.floor.judged, second.floor.judged, pooled))


def error_categories_pooled(project: Project, audits: list[Audit] | None = None) -> list[dict]:
    counts: dict[str, dict] = defaultdict(lambda: {"count": 0, "label": ""})
    for audit in audits if audits is not None else closed_audits(project):
        for row in (audit.frozen_figures or {}).get("error_categories", []):
            counts[row["category"]]["count"] += row["count"]
            counts[row["category"]]["label"] = row["label"]
    total = sum(entry["count"] for entry in counts.values())
    return sorted(
        (
            {"category": name, "label": entry["label"], "count": entry["count"], "share": entry["count"] / total}
            for name, entry in counts.items()
        ),
        key=lambda row: -row["count"],
    )
