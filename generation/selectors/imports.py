"""Reads of a project's import batches and the rows they repeated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import QuerySet

from generation.models import (
    ImportBatch,
    ImportStatus,
)
from synthreview.progress import Progress
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


# Progress is written every few thousand rows, seconds apart; this long without any sign of
# life and the import has most likely lost its process (or no worker is running).
IMPORT_STALLED_AFTER = timedelta(minutes=10)


def import_stalled_minutes(batch: ImportBatch, progress: Progress | None, *, now: datetime) -> int | None:
    """Minutes since an unfinished import last showed progress (or was queued), once that is past
    IMPORT_STALLED_AFTER; None while it is moving, or once it has ended."""
    if batch.status in (ImportStatus.COMPLETED, ImportStatus.FAILED):
        return None
    last_seen = batch.created_at
    if progress is not None and progress.updated:
        last_seen = max(last_seen, datetime.fromtimestamp(progress.updated, tz=UTC))
    quiet = now - last_seen
    return int(quiet.total_seconds() // 60) if quiet >= IMPORT_STALLED_AFTER else None
