"""Reads of the generation app."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch, QuerySet

from generation.models import (
    GenerationRun,
    Generator,
    ImportBatch,
    Origin,
    PromptTemplate,
    PromptTemplateVersion,
    SampleCount,
    SampleStatus,
)
from synthreview.projects.models import Project


@dataclass(frozen=True)
class SampleCounts:
    by_origin_status: dict[tuple[str, str], int]

    def get(self, origin: str, status: str) -> int:
        return self.by_origin_status.get((origin, status), 0)

    def origin_total(self, origin: str) -> int:
        return sum(count for (o, _), count in self.by_origin_status.items() if o == origin)

    def status_total(self, status: str) -> int:
        return sum(count for (_, s), count in self.by_origin_status.items() if s == status)

    @property
    def total(self) -> int:
        return sum(self.by_origin_status.values())

    def rows(self) -> list[dict]:
        """One row per origin, with its counts by status and its share of the whole."""
        total = self.total or 1
        return [
            {
                "origin": origin,
                "label": Origin(origin).label,
                "total": self.origin_total(origin),
                "share": self.origin_total(origin) / total,
                "by_status": [(status, self.get(origin, status)) for status in SampleStatus.values],
            }
            for origin in Origin.values
        ]


    def segments(self) -> list[dict]:
        """Bar segments in percent of all samples: real first, then synthetic, each by status."""
        total = self.total
        if not total:
            return []
        segments, x = [], 0.0
        for origin in Origin.values:
            for status in SampleStatus.values:
                count = self.get(origin, status)
                if not count:
                    continue
                width = 100.0 * count / total
                segments.append({
                    "key": f"{origin}-{status}",
                    "x": x,
                    "width": width,
                    "title": f"{Origin(origin).label}, {SampleStatus(status).label}: {count:,}",
                })
                x += width
        return segments


def sample_counts(project: Project) -> SampleCounts:
    """From the counters the services keep: never a COUNT(*) over the samples."""
    rows = SampleCount.objects.filter(project=project).values_list("origin", "status", "count")
    return SampleCounts({(origin, status): count for origin, status, count in rows})


def project_runs(project: Project, limit: int = 50) -> QuerySet[GenerationRun]:
    return (
        GenerationRun.objects.filter(project=project)
        .defer("variable_rows", "parameters")
        .select_related("template_version__template", "created_by")
        .prefetch_related("generators")
        .order_by("-created_at", "-id")[:limit]
    )


def project_imports(project: Project, limit: int = 20) -> QuerySet[ImportBatch]:
    return ImportBatch.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")[
        :limit
    ]


def project_generators(project: Project) -> QuerySet[Generator]:
    return Generator.objects.filter(project=project).order_by("name")


def project_templates(project: Project) -> QuerySet[PromptTemplate]:
    """The project's templates by name, each with its versions newest first (two queries in all)."""
    versions = PromptTemplateVersion.objects.select_related("created_by").order_by("-version")
    return (
        PromptTemplate.objects.filter(project=project)
        .prefetch_related(Prefetch("versions", queryset=versions))
        .order_by("name")
    )


def template_latest_version(project: Project, name: str) -> PromptTemplateVersion | None:
    return (
        PromptTemplateVersion.objects.select_related("template")
        .filter(template__project=project, template__name=name)
        .order_by("-version")
        .first()
    )


@dataclass(frozen=True)
class RepeatedSource:
    """One source's rows that an import skipped because the source already had that exact content."""

    name: str  # the generator's name; empty for real data
    rows: int
    repeated: int
    lines: list[dict]  # the kept entries of this source, in file order

    @property
    def share(self) -> float:
        return self.repeated / self.rows if self.rows else 0.0

    @property
    def listed_all(self) -> bool:
        return len(self.lines) == self.repeated


def import_repeated_rows(batch: ImportBatch) -> list[RepeatedSource]:
    """The import's skipped rows by source, the most repetitive first (read from the batch's own row)."""
    lines_by_source: dict[str, list[dict]] = {}
    for entry in batch.duplicate_lines or []:
        lines_by_source.setdefault(str(entry.get("source", "")), []).append(entry)
    sources = [
        RepeatedSource(name=name, rows=int(counts.get("rows", 0)), repeated=int(counts.get("repeated", 0)),
                       lines=lines_by_source.get(name, []))
        for name, counts in (batch.duplicates_by_source or {}).items()
    ]
    return sorted(sources, key=lambda source: (-source.repeated, source.name))
