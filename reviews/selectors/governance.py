"""Reads for the governance pages: exports, the eval set, and performance parity."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from generation.models import Sample, SampleFlag, Split
from reviews.charts.scatter import ScatterPoint, ScatterSeries
from reviews.models import DownstreamResult, EvalLeak, EvalSetVersion, Export, ExportSplit, ExportStatus
from reviews.models.governance import EvalLeakCheck
from synthreview.projects.models import Project

EXPORTS_PAGE = 25
PREVIEW = 20


def exports_page(
    project: Project, *, before: int | None = None, size: int = EXPORTS_PAGE
) -> tuple[list[Export], int | None]:
    query = Export.objects.filter(project=project).select_related("created_by", "eval_set_version").order_by("-id")
    if before:
        query = query.filter(id__lt=before)
    rows = list(query[: size + 1])
    older = rows[size - 1].pk if len(rows) > size else None
    return rows[:size], older


def eval_set_versions_page(
    project: Project, *, before: int | None = None, size: int = 20
) -> tuple[list[EvalSetVersion], int | None]:
    """The project's frozen versions, newest first, with their leak checks; `before` is a version number."""
    query = (
        EvalSetVersion.objects.filter(project=project).select_related("created_by", "leak_check").order_by("-version")
    )
    if before:
        query = query.filter(version__lt=before)
    rows = list(query[: size + 1])
    older = rows[size - 1].version if len(rows) > size else None
    return rows[:size], older


@dataclass
class EvalSetOverview:
    split_count: int
    split_preview: list[Sample]
    versions: list[EvalSetVersion]
    checks: dict[int, EvalLeakCheck]
    added_since_latest: int
    removed_since_latest: int
    leaks: list[EvalLeak]
    leak_flags: int


def eval_set_overview(project: Project) -> EvalSetOverview:
    in_split = Sample.objects.filter(project=project, split=Split.EVAL)
    # The eval split is small (hundreds to a few thousand), and a partial index covers it.
    split_ids = set(in_split.values_list("id", flat=True))
    versions = list(
        EvalSetVersion.objects.filter(project=project).select_related("created_by").order_by("-version")[:20]
    )
    checks = {c.version_id: c for c in EvalLeakCheck.objects.filter(version__in=versions)}
    added = removed = 0
    leaks: list[EvalLeak] = []
    if versions:
        latest = versions[0]
        frozen = set(latest.members.values_list("sample_id", flat=True))
        added, removed = len(split_ids - frozen), len(frozen - split_ids)
        leaks = list(
            EvalLeak.objects.filter(version=latest)
            .select_related("sample", "eval_sample")
            .order_by("-similarity", "sample_id")[:PREVIEW]
        )
    return EvalSetOverview(
        split_count=len(split_ids),
        split_preview=list(in_split.order_by("id")[:PREVIEW]),
        versions=versions,
        checks=checks,
        added_since_latest=added,
        removed_since_latest=removed,
        leaks=leaks,
        leak_flags=SampleFlag.objects.filter(project=project, check_name="eval-leak").count(),
    )


def performance_parity(project: Project) -> dict[str, list[dict]]:
    """Metric → one row per result: the export's real share beside the score a model trained on it got."""
    by_metric: dict[str, list[dict]] = defaultdict(list)
    results = (
        DownstreamResult.objects.filter(
            export__project=project, export__status=ExportStatus.COMPLETED, export__split=ExportSplit.TRAIN
        )
        .select_related("export")
        .order_by("metric", "export_id", "id")
    )
    for result in results:
        by_metric[result.metric].append(
            {
                "export_id": result.export_id,
                "real_share": (result.export.manifest or {}).get("real_share"),
                "rows": result.export.rows_written,
                "model": result.model_name,
                "value": result.value,
                "higher_is_better": result.higher_is_better,
                "note": result.note,
                "recorded_at": result.recorded_at,
            }
        )
    return dict(by_metric)


def parity_series(rows: list[dict]) -> list[ScatterSeries]:
    """Chart series for one metric: one series per model, a point per export."""
    by_model: dict[str, list[ScatterPoint]] = defaultdict(list)
    for row in rows:
        if row["real_share"] is not None:
            by_model[row["model"]].append(
                {"x": row["real_share"], "y": row["value"], "label": f"export {row['export_id']}"}
            )
    return [{"name": model, "points": points} for model, points in sorted(by_model.items())]
