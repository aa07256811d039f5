"""The project's similarity settings: what is embedded, the near-duplicate threshold,
the variant rule, the low-novelty thresholds and the refit share. Leads set them;
every change is one audit-log entry listing what moved, and each change sets off the
work it needs, after commit:
- the threshold or the variant rule: a regroup from the stored neighbours (a build
  job, which with nothing new to embed only regroups), never a re-embedding;
- the embedded text: every sample is embedded again, then built;
- the low-novelty thresholds: the clusters are flagged again at once, from the
  density, synthetic share and distance each already stores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from reviews.models import Cluster, SimilarityJobKind
from reviews.services.similarity_jobs import similarity_job_request
from reviews.similarity.grouping import is_low_novelty
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import EmbeddingText, Project, VariantRule
from synthreview.projects.services import audit_log_record

# Below 0.5, pairs that share little link up, and chains of them would pull large parts
# of a project into one group: a regroup the size of the project, for nothing a lead wants.
MIN_NEAR_DUPLICATE_THRESHOLD = 0.5
MAX_VARIANT_KEEP = 1000
MIN_REFIT_SHARE, MAX_REFIT_SHARE = 0.01, 10.0

# field → (lowest, highest, what the message calls it)
_NUMBERS: dict[str, tuple[float, float, str]] = {
    "near_duplicate_threshold": (
        MIN_NEAR_DUPLICATE_THRESHOLD,
        1.0,
        "The near-duplicate threshold is a cosine similarity from 0.5 to 1",
    ),
    "low_novelty_min_density": (0.0, 1.0, "The low-novelty density is a mean similarity from 0 to 1"),
    "low_novelty_min_synthetic_share": (0.0, 1.0, "The low-novelty synthetic share lies between 0% and 100%"),
    "low_novelty_far_distance": (0.0, 2.0, "The far-from-real distance is a distance (1 − cosine) from 0 to 2"),
    "refit_share": (MIN_REFIT_SHARE, MAX_REFIT_SHARE, "The refit share lies between 1% and 1000%"),
}
SIMILARITY_SETTINGS = (
    "embedding_text",
    "near_duplicate_threshold",
    "variant_rule",
    "variant_keep_max",
    "low_novelty_min_density",
    "low_novelty_min_synthetic_share",
    "low_novelty_far_distance",
    "refit_share",
)
REGROUP_ON = ("near_duplicate_threshold", "variant_rule")
LOW_NOVELTY = ("low_novelty_min_density", "low_novelty_min_synthetic_share", "low_novelty_far_distance")


@dataclass(frozen=True)
class SimilaritySettingsChange:
    project: Project
    moved: dict[str, dict[str, Any]] = field(default_factory=dict)
    regroup: bool = False
    reembed: bool = False
    # Clusters flagged low-novelty under the new thresholds (None when they did not move).
    low_novelty_clusters: int | None = None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _validated(changes: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(changes) - set(SIMILARITY_SETTINGS))
    if unknown:
        errors["__all__"] = [f"Not a similarity setting: {', '.join(unknown)}."]
    clean: dict[str, Any] = {}
    if "embedding_text" in changes:
        if changes["embedding_text"] in EmbeddingText.values:
            clean["embedding_text"] = changes["embedding_text"]
        else:
            errors["embedding_text"] = [f"The embedded text is one of {', '.join(EmbeddingText.values)}."]
    if "variant_rule" in changes:
        if changes["variant_rule"] in VariantRule.values:
            clean["variant_rule"] = changes["variant_rule"]
        else:
            errors["variant_rule"] = [f"The variant rule is one of {', '.join(VariantRule.values)}."]
    if "variant_keep_max" in changes:
        keep = changes["variant_keep_max"]
        if isinstance(keep, int) and not isinstance(keep, bool) and 1 <= keep <= MAX_VARIANT_KEEP:
            clean["variant_keep_max"] = keep
        else:
            errors["variant_keep_max"] = [
                f"The variants kept per family is a whole number from 1 to {MAX_VARIANT_KEEP}."
            ]
    for name, (low, high, message) in _NUMBERS.items():
        if name in changes:
            value = changes[name]
            if _is_number(value) and low <= value <= high:
                clean[name] = float(value)
            else:
                errors[name] = [f"{message}."]
    if errors:
        raise ValidationError(errors)
    return clean


def _clusters_reflag(project: Project) -> int:
    """Flag the project's clusters again under its low-novelty thresholds (at most a few
    hundred rows: k is capped at 500); returns how many are low-novelty now."""
    clusters = list(
        Cluster.objects.filter(project=project).only(
            "id", "density", "synthetic_share", "real_anchor_distance", "is_low_novelty", "low_novelty_reason"
        )
    )
    for cluster in clusters:
        cluster.is_low_novelty, cluster.low_novelty_reason = is_low_novelty(
            density=cluster.density,
            synthetic_share=cluster.synthetic_share,
            real_distance=cluster.real_anchor_distance,
            min_density=project.low_novelty_min_density,
            min_synthetic_share=project.low_novelty_min_synthetic_share,
            far_distance=project.low_novelty_far_distance,
        )
    Cluster.objects.bulk_update(clusters, ["is_low_novelty", "low_novelty_reason"], batch_size=500)
    return sum(cluster.is_low_novelty for cluster in clusters)


def project_similarity_settings_set(access: ProjectAccess, **changes: Any) -> SimilaritySettingsChange:
    """Validate and save the settings; record one "similarity_settings.set" entry with
    {field: {"from", "to"}} for the fields that moved (none when nothing did)."""
    if not access.can("similarity_settings"):
        raise PermissionDenied("Only the project's leads and admins change its similarity settings.")
    clean = _validated(changes)
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=access.project.pk)
        moved = {
            name: {"from": getattr(locked, name), "to": value}
            for name, value in clean.items()
            if getattr(locked, name) != value
        }
        if not moved:
            return SimilaritySettingsChange(project=locked)
        for name, change in moved.items():
            setattr(locked, name, change["to"])
        locked.save(update_fields=list(moved))
        audit_log_record(
            project=locked, actor=access.actor, action="similarity_settings.set", obj=locked, details=moved
        )
        reembed = "embedding_text" in moved
        regroup = not reembed and any(name in moved for name in REGROUP_ON)
        if reembed:
            # Every sample lacks a vector of the new kind: embed them all, then build (which regroups).
            similarity_job_request(project_id=locked.pk, requested_by=access.actor)
        elif regroup:
            # Nothing new to embed: the build regroups from the stored neighbours alone.
            similarity_job_request(project_id=locked.pk, kind=SimilarityJobKind.BUILD, requested_by=access.actor)
        low = _clusters_reflag(locked) if any(name in moved for name in LOW_NOVELTY) else None
    return SimilaritySettingsChange(
        project=locked, moved=moved, regroup=regroup, reembed=reembed, low_novelty_clusters=low
    )
