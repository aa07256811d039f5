"""Downstream results: how a model trained on an export scored, for the
performance-parity check (does more synthetic data cost accuracy?)."""

from __future__ import annotations

import math

from django.db import transaction

from reviews.models import DownstreamResult, Export, ExportSplit, ExportStatus
from synthreview.projects.access import ProjectAccess, signed_in_account
from synthreview.projects.services import audit_log_record


class DownstreamError(ValueError):
    pass


def downstream_result_record(
    access: ProjectAccess,
    *,
    export: Export,
    model_name: str,
    metric: str,
    value: float,
    higher_is_better: bool = True,
    note: str = "",
) -> DownstreamResult:
    if export.project_id != access.project.pk:
        raise DownstreamError("That export belongs to another project.")
    if export.status != ExportStatus.COMPLETED or export.split != ExportSplit.TRAIN:
        raise DownstreamError("Results are recorded against a completed training export.")
    if not model_name.strip() or not metric.strip():
        raise DownstreamError("Name the model and the metric.")
    if not math.isfinite(value):
        raise DownstreamError("The value must be a finite number.")
    with transaction.atomic():
        result = DownstreamResult.objects.create(
            export=export,
            model_name=model_name.strip()[:200],
            metric=metric.strip()[:100],
            value=value,
            higher_is_better=higher_is_better,
            note=note.strip(),
            recorded_by=signed_in_account(access.actor),
        )
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="export.downstream_result",
            obj=export,
            details={
                "model": result.model_name,
                "metric": result.metric,
                "value": value,
                "higher_is_better": higher_is_better,
            },
        )
    return result
