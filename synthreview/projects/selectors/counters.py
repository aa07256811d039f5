"""The per-project sample counters as pages read them: by origin and status, with totals and shares."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Sum

from synthreview.projects.models import Origin, Project, SampleCount, SampleStatus


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
                segments.append(
                    {
                        "key": f"{origin}-{status}",
                        "x": x,
                        "width": width,
                        "title": f"{Origin(origin).label}, {SampleStatus(status).label}: {count:,}",
                    }
                )
                x += width
        return segments


def sample_counts(project: Project) -> SampleCounts:
    """From the counters the services keep: never a COUNT(*) over the samples."""
    rows = SampleCount.objects.filter(project=project).values_list("origin", "status", "count")
    return SampleCounts({(origin, status): count for origin, status, count in rows})


def sample_count(project_id: int, *, origin: str | None = None, status: str | None = None) -> int:
    """The project's samples of one origin, one status, both or neither, from the counters (at most six
    rows, summed): never a COUNT(*) over the samples."""
    rows = SampleCount.objects.filter(project_id=project_id)
    if origin:
        rows = rows.filter(origin=origin)
    if status:
        rows = rows.filter(status=status)
    return int(rows.aggregate(total=Sum("count"))["total"] or 0)
