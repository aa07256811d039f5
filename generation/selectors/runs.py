"""Reads for generation runs: the run page's figures and orphaned runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from generation.models import (
    GenerationRun,
    Generator,
    GeneratorKind,
    PromptTemplateVersion,
    RunItem,
    RunItemStatus,
    RunLane,
    RunStatus,
    SampleFlag,
)
from generation.runs.plan import constraint_counts
from synthreview.projects.models import Project

# A run in one of these is over: the run page stops polling it, and so may an API client.
RUN_FINISHED_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


def runs_orphaned() -> list[int]:
    """Queued or running runs with pending items. Some may still have a live worker;
    their lanes then answer "busy" and the live worker finishes them."""
    active = GenerationRun.objects.filter(status__in=(RunStatus.QUEUED, RunStatus.RUNNING))
    pending = RunItem.objects.filter(status=RunItemStatus.PENDING).values("run_id")
    return list(active.filter(pk__in=pending).values_list("pk", flat=True))


@dataclass(frozen=True)
class RunTotals:
    items_total: int
    done: int
    failed: int
    pending: int
    samples: int
    duplicates: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None

    @property
    def finished_share(self) -> float:
        return (self.done + self.failed) / self.items_total if self.items_total else 0.0


def run_lanes(run: GenerationRun) -> list[RunLane]:
    return list(RunLane.objects.filter(run=run).select_related("generator").order_by("generator__name"))


def run_totals(run: GenerationRun, lanes: list[RunLane]) -> RunTotals:
    costs = [lane.cost_estimate for lane in lanes]
    known = [cost for cost in costs if cost is not None]
    done = sum(lane.items_done for lane in lanes)
    samples = sum(lane.samples_created for lane in lanes)
    total = sum(lane.items_total for lane in lanes) or run.items_total
    failed = sum(lane.items_failed for lane in lanes)
    return RunTotals(
        items_total=total,
        done=done,
        failed=failed,
        pending=max(0, total - done - failed),
        samples=samples,
        duplicates=done - samples,
        prompt_tokens=sum(lane.prompt_tokens for lane in lanes),
        completion_tokens=sum(lane.completion_tokens for lane in lanes),
        cost=sum(known) if known else None,
    )


def lanes_unheld(*, run_id: int) -> list[int]:
    """The generators whose lane in this run has pending items and no live lease."""
    now = timezone.now()
    return list(
        RunLane.objects.filter(run_id=run_id, items_total__gt=F("items_done") + F("items_failed"))
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("generator_id")
        .values_list("generator_id", flat=True)
    )


def run_unattended_lanes(run: GenerationRun, lanes: list[RunLane]) -> list[RunLane]:
    """The lanes of a running run that have pending items and no worker holding them:
    a task waiting behind other work, or a worker that stopped. Only once the run has
    been running for a lease's length, so a lane about to start is not called idle."""
    if run.status != RunStatus.RUNNING or run.started_at is None:
        return []
    now = timezone.now()
    if now - run.started_at < timedelta(seconds=settings.GENERATION_LANE_LEASE_S):
        return []
    return [lane for lane in lanes if lane.items_pending > 0 and (lane.lease_until is None or lane.lease_until < now)]


def run_failed_items(run: GenerationRun, limit: int = 50) -> QuerySet[RunItem]:
    return (
        RunItem.objects.filter(run=run, status=RunItemStatus.FAILED)
        .select_related("generator")
        .order_by("id")
        .only("id", "row_index", "params", "attempts", "error", "generator__name")[:limit]
    )


def run_flag_counts(run: GenerationRun) -> list[tuple[str, int]]:
    """Flags raised on the run's samples, by check; bounded by the run's own size."""
    rows = SampleFlag.objects.filter(sample__run=run).values("check_name").annotate(n=Count("id")).order_by("-n")
    return [(row["check_name"], row["n"]) for row in rows]


def run_constraint_counts(run: GenerationRun) -> dict[str, list[tuple[str, int]]]:
    """How many rows got each constraint value, per dimension, as counted when the run was made."""
    counts = run.parameters.get("constraint_counts")
    if counts is None:  # a run made before the counts were kept: read its plan once
        counts = constraint_counts(GenerationRun.objects.filter(pk=run.pk).values_list("variable_rows", flat=True)[0])
    return {dimension: sorted(values.items(), key=lambda kv: -kv[1]) for dimension, values in counts.items()}


def run_in_project(project: Project, run_id: int) -> GenerationRun | None:
    """The project's run with this id, with what its status names; None when the project has none such."""
    # A run's plan (every row's variables) can be large and nothing that shows a run's status reads it.
    return (
        GenerationRun.objects.defer("variable_rows")
        .select_related("template_version__template", "created_by")
        .filter(project=project, pk=run_id)
        .first()
    )


def project_runs(project: Project, limit: int = 50) -> QuerySet[GenerationRun]:
    return (
        GenerationRun.objects.filter(project=project)
        .defer("variable_rows", "parameters")
        .select_related("template_version__template", "created_by")
        .prefetch_related("generators")
        .order_by("-created_at", "-id")[:limit]
    )


def project_runs_page(
    project: Project, *, before: int | None = None, size: int = 50
) -> tuple[list[GenerationRun], int | None]:
    """A page of the project's runs, newest first by id (the order they were made in), read by keyset
    so a script walking every run never reads by offset; `before` is a run's id."""
    query = (
        GenerationRun.objects.filter(project=project)
        .defer("variable_rows", "parameters")
        .select_related("template_version__template", "created_by")
        .prefetch_related("generators")
        .order_by("-id")
    )
    if before:
        query = query.filter(id__lt=before)
    rows = list(query[: size + 1])
    older = rows[size - 1].pk if len(rows) > size else None
    return rows[:size], older


@dataclass(frozen=True)
class RunPrerequisites:
    """What a first run needs: a template version with text, and a generator that can be called."""

    template: bool
    generator: bool


def run_prerequisites(project: Project) -> RunPrerequisites:
    """Read only for a project with no runs, to say which step comes first."""
    return RunPrerequisites(
        template=PromptTemplateVersion.objects.filter(template__project=project).exclude(text="").exists(),
        generator=Generator.objects.filter(
            project=project, kind__in=(GeneratorKind.OPENAI_COMPATIBLE, GeneratorKind.PROGRAMMATIC)
        ).exists(),
    )
