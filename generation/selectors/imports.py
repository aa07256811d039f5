"""Reads of a project's import batches and the rows they repeated."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from generation.models import (
    ImportBatch,
)
from synthreview.projects.models import Project


def project_imports(project: Project, limit: int = 20) -> QuerySet[ImportBatch]:
    return (
        ImportBatch.objects.filter(project=project).select_related("created_by").order_by("-created_at", "-id")[:limit]
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
        RepeatedSource(
            name=name,
            rows=int(counts.get("rows", 0)),
            repeated=int(counts.get("repeated", 0)),
            lines=lines_by_source.get(name, []),
        )
        for name, counts in (batch.duplicates_by_source or {}).items()
    ]
    return sorted(sources, key=lambda source: (-source.repeated, source.name))
