"""The figures leads set limits on, with defaults a project can override.

A "max" figure alerts when it rises above its limit, a "min" figure when it falls below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeGuard

from reviews.models import QualityThreshold
from synthreview.projects.models import Project


@dataclass(frozen=True)
class ThresholdSpec:
    metric: str
    label: str
    direction: str  # "max" or "min"
    default: float
    percent: bool
    help: str


# Calibrated on the shared Self-Instruct data (README: "Length defaults"): the six instruction-tuned
# models answer the experts' 252 prompts at 0.34 to 1.42 times the experts' median length, the two
# broken ones at 0.11 (mostly empty) and 26 times (never stops). Within a factor of 3 the six score at
# most 0.04 and the two 0.29 and 0.82, so the limit sits between them.
LENGTH_TOLERANCE = 3.0
LENGTH_LIMIT = 0.25

THRESHOLD_SPECS: dict[str, ThresholdSpec] = {
    spec.metric: spec
    for spec in [
        ThresholdSpec(
            "noise_floor_upper",
            "Noise floor, upper bound of the 95% interval",
            "max",
            0.10,
            True,
            "Checked when an audit closes. The project's export limit is the default.",
        ),
        ThresholdSpec(
            "duplicate_share",
            "Share of synthetic samples in a duplicate group",
            "max",
            0.10,
            True,
            "In an exact or near-duplicate group with any other sample: of the same generator, of another "
            "generator, or real. Groups a reviewer marked as no duplicates do not count. The dashboard "
            "splits it into repeats within the scope and duplicates of real samples.",
        ),
        ThresholdSpec(
            "low_novelty_share",
            "Share of synthetic samples in low-novelty clusters",
            "max",
            0.25,
            True,
            "Dense, mostly synthetic clusters or clusters far from any real sample.",
        ),
        ThresholdSpec(
            "copy_share",
            "Share of synthetic samples copying a real record",
            "max",
            0.01,
            True,
            "Privacy: nearest real sample at or above the copy similarity, among the synthetic samples "
            "that have a nearest real sample.",
        ),
        ThresholdSpec(
            "fidelity_precision",
            "Fidelity: share of synthetic inside the real manifold",
            "min",
            0.50,
            True,
            "k-NN precision against the real anchors (Kynkäänniemi et al. 2019).",
        ),
        ThresholdSpec(
            "length_distance",
            "Fidelity: length distance to the real anchors (KS)",
            "max",
            LENGTH_LIMIT,
            False,
            "Kolmogorov–Smirnov distance between output lengths, synthetic against real, label by label "
            f"where the real anchors have labels; lengths within a factor of {LENGTH_TOLERANCE:g} of each "
            "other count as alike, so a worked answer beside a terse anchor is no slip, while empty, "
            "clipped or runaway answers are.",
        ),
        ThresholdSpec(
            "drift",
            "Drift of a run from the runs before it (Fréchet distance, embeddings)",
            "max",
            0.25,
            False,
            "Per run, against the runs before it pooled; for the project, its latest run's figure. "
            "Imported samples belong to no run: the window figures below cover them.",
        ),
        ThresholdSpec(
            "drift_previous",
            "Drift from the previous window (Fréchet distance, embeddings)",
            "max",
            0.25,
            False,
            "The samples that arrived since the scope's previous snapshot, against the samples that "
            "snapshot's window held. Same scale as the run drift.",
        ),
        ThresholdSpec(
            "drift_to_real_rise",
            "Drift away from the real anchors since the previous window",
            "max",
            0.10,
            False,
            "The newest window's Fréchet distance to the real anchors minus the previous window's: "
            "positive when new data moved away from the real data.",
        ),
    ]
}

# Cosine similarity to the nearest real sample from which a synthetic sample counts as a copy.
COPY_SIMILARITY = 0.95


@dataclass(frozen=True)
class Threshold:
    spec: ThresholdSpec
    limit: float
    enabled: bool
    custom: bool

    def slipped(self, value: float | None) -> TypeGuard[float]:
        """Whether a measured value is past the limit; a value not measured (None) never is."""
        if value is None or not self.enabled:
            return False
        return value > self.limit if self.spec.direction == "max" else value < self.limit


def project_thresholds(project: Project) -> dict[str, Threshold]:
    rows = {row.metric: row for row in QualityThreshold.objects.filter(project=project)}
    thresholds = {}
    for metric, spec in THRESHOLD_SPECS.items():
        default = project.noise_floor_limit if metric == "noise_floor_upper" else spec.default
        row = rows.get(metric)
        thresholds[metric] = Threshold(
            spec=spec, limit=row.limit if row else default, enabled=row.enabled if row else True, custom=row is not None
        )
    return thresholds
