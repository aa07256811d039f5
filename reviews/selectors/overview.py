"""Reads of the reviews app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count

from reviews.models import (
    Cluster,
    DuplicateGroup,
    DuplicateGroupStatus,
    DuplicateKind,
    SimilarityJob,
    SimilarityJobKind,
    SimilarityJobStatus,
)
from synthreview.projects.models import Project


@dataclass(frozen=True)
class SimilarityOverview:
    embed_job: SimilarityJob | None
    build_job: SimilarityJob | None
    open_near_groups: int
    open_exact_groups: int
    clusters: int
    low_novelty_clusters: int
    open_variant_families: int = 0

    @property
    def jobs(self) -> list[SimilarityJob]:
        return [job for job in (self.embed_job, self.build_job) if job is not None]

    @property
    def busy(self) -> bool:
        active = (SimilarityJobStatus.QUEUED, SimilarityJobStatus.RUNNING)
        return any(job is not None and job.status in active for job in (self.embed_job, self.build_job))


def similarity_overview(project: Project) -> SimilarityOverview:
    """Job progress and what the last build found: small tables, cheap counts."""
    latest = {
        kind: SimilarityJob.objects.filter(project=project, kind=kind).order_by("-created_at", "-id").first()
        for kind in SimilarityJobKind.values
    }
    # One grouped count for every kind (index duplicate_group_queue leads with project and status).
    open_groups = dict.fromkeys(DuplicateKind.values, 0)
    open_groups.update(
        DuplicateGroup.objects.filter(project=project, status=DuplicateGroupStatus.OPEN)
        .order_by()
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    clusters = Cluster.objects.filter(project=project)
    return SimilarityOverview(
        embed_job=latest[SimilarityJobKind.EMBED],
        build_job=latest[SimilarityJobKind.BUILD],
        open_near_groups=open_groups[DuplicateKind.NEAR],
        open_exact_groups=open_groups[DuplicateKind.EXACT],
        clusters=clusters.count(),
        low_novelty_clusters=clusters.filter(is_low_novelty=True).count(),
        open_variant_families=open_groups[DuplicateKind.VARIANT],
    )
