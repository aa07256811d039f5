"""The figures leads set limits on, with defaults a project can override.

A "max" figure alerts when it rises above its limit, a "min" figure when it falls below.
"""

from __future__ import annotations

from dataclasses import dataclass

from generation.models import Project


@dataclass(frozen=True)
class ThresholdSpec:
    metric: str
    label: str
    direction: str  # "max" or "min"
    default: float
    percent: bool
    help: str


THRESHOLD_SPECS: dict[str, ThresholdSpec] = {spec.metric: spec for spec in [
    ThresholdSpec("noise_floor_upper", "Noise floor, upper bound of the 95% interval", "max", 0.10, True,
                  "Checked when an audit closes. The project's export limit is the default."),
    ThresholdSpec("duplicate_share", "Share of synthetic samples in near-duplicate groups", "max", 0.10, True,
                  "Repetitive generation: the same sample produced again and again."),
    ThresholdSpec("low_novelty_share", "Share of synthetic samples in low-novelty clusters", "max", 0.25, True,
                  "Dense, mostly synthetic clusters or clusters far from any real sample."),
    ThresholdSpec("copy_share", "Share of synthetic samples copying a real record", "max", 0.01, True,
                  "Privacy: nearest real sample at or above the copy similarity."),
    ThresholdSpec("fidelity_precision", "Fidelity: share of synthetic inside the real manifold", "min", 0.50, True,
                  "k-NN precision against the real anchors (Kynkäänniemi et al. 2019)."),
    ThresholdSpec("length_distance", "Fidelity: length distance to the real anchors (KS)", "max", 0.30, False,
                  "Kolmogorov–Smirnov statistic between output lengths, synthetic against real."),
    ThresholdSpec("drift", "Drift from the earlier runs (Fréchet distance, embeddings)", "max", 0.25, False,
                  "How far a run's embeddings moved from the runs before it."),
]}

# Cosine similarity to the nearest real sample from which a synthetic sample counts as a copy.
COPY_SIMILARITY = 0.95


@dataclass(frozen=True)
class Threshold:
    spec: ThresholdSpec
    limit: float
    enabled: bool
    custom: bool

    def slipped(self, value: float | None) -> bool:
        if value is None or not self.enabled:
            return False
        return value > self.limit if self.spec.direction == "max" else value < self.limit


def project_thresholds(project: Project) -> dict[str, Threshold]:
    from reviews.models import QualityThreshold

    rows = {row.metric: row for row in QualityThreshold.objects.filter(project=project)}
    thresholds = {}
    for metric, spec in THRESHOLD_SPECS.items():
        default = project.noise_floor_limit if metric == "noise_floor_upper" else spec.default
        row = rows.get(metric)
        thresholds[metric] = Threshold(spec=spec, limit=row.limit if row else default,
                                       enabled=row.enabled if row else True, custom=row is not None)
    return thresholds
