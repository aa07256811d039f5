"""Writes for generation runs: create, prepare, resume, retry, cancel, finish."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
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
)
from generation.programmatic import get_programmatic
from generation.prompts import template_variables
from generation.runs.fewshot import fewshot_rows
from generation.runs.plan import (
    EXAMPLES_VARIABLE,
    RESERVED_VARIABLES,
    ConstraintMix,
    GridCell,
    PlanError,
    check_rows_fill_template,
    constraint_counts,
    estimate_tokens,
    idempotency_key,
    item_prompt,
)
from generation.services.run_lanes import lane_execute
from generation.signals import samples_arrived
from synthreview.projects.access import ProjectAccess, SystemActor, signed_in_account
from synthreview.projects.models import Project
from synthreview.projects.queue import enqueue_on_commit
from synthreview.projects.services import audit_log_record

ITEM_BATCH = 2_000
# A run finishes when its last item does, in whichever worker ran that item: no person acts.
RUN_WORKER = SystemActor("task:run")
DEFAULT_COMPLETION_TOKENS = 256  # for the cost estimate when a generator sets no max_tokens


@dataclass
class RunSpec:
    """What a lead asks for; `run_plan_rows` turns it into the run's rows."""

    project: Project
    name: str
    template_version: PromptTemplateVersion
    generators: list[Generator]
    cells: list[GridCell]
    table_rows: list[dict] = field(default_factory=list)
    fewshot_per_item: int = 0
    fewshot_items: int = 0
    fewshot_allow_synthetic: bool = False
    constraints: ConstraintMix = field(default_factory=ConstraintMix)
    seed: int = 0

    def parameters(self) -> dict:
        return {
            "grid": [cell.as_params() for cell in self.cells],
            "temperatures": sorted({c.temperature for c in self.cells if c.temperature is not None}),
            "top_ps": sorted({c.top_p for c in self.cells if c.top_p is not None}),
            "seeds": sorted({c.seed for c in self.cells if c.seed is not None}),
            "fewshot": {"per_item": self.fewshot_per_item, "allow_synthetic": self.fewshot_allow_synthetic},
            "constraints": self.constraints.describe(),
            "seed": self.seed,
        }


@dataclass(frozen=True)
class RunPreview:
    item_count: int
    row_count: int
    examples: list[dict]
    prompt_tokens: int
    cost_by_generator: list[tuple[str, float | None]]


def run_plan_rows(spec: RunSpec) -> list[dict]:
    """Each row: its variables (few-shot block included), constraint, seeds and depth."""
    errors = []
    if not spec.generators:
        errors.append("choose at least one generator")
    for generator in spec.generators:
        if generator.project_id != spec.project.pk:
            errors.append(f"{generator.name} is not a generator of this project")
        elif generator.kind == GeneratorKind.IMPORTED:
            errors.append(f"{generator.name} is an imported generator and cannot generate")
        elif generator.kind == GeneratorKind.OPENAI_COMPATIBLE and not generator.endpoint:
            errors.append(f"{generator.name} has no base URL")
        elif generator.kind == GeneratorKind.PROGRAMMATIC:
            try:
                get_programmatic(generator.programmatic_name)
            except KeyError as error:
                errors.append(str(error.args[0]))
    if spec.template_version.template.project_id != spec.project.pk:
        errors.append("the template version is not of this project")
    rows = [dict(row) for row in spec.table_rows]
    reserved = sorted({name for row in rows for name in row} & RESERVED_VARIABLES)
    if reserved:
        errors.append(
            f"the variable table has a column named {', '.join(reserved)}: the run fills "
            f"{{{{ examples }}}} and {{{{ constraint }}}} itself; rename the column"
        )
    if spec.fewshot_per_item and EXAMPLES_VARIABLE not in template_variables(spec.template_version.text):
        errors.append(
            "few-shot examples were asked for, but the template has no {{ examples }} placeholder to put them in"
        )
    if not rows:
        if spec.fewshot_items:
            # No table: that many prompts, filled by few-shot draws (or none, for a template
            # without variables, such as a rule-based generator's).
            rows = [{} for _ in range(spec.fewshot_items)]
        else:
            errors.append("upload a variable table, or give a number of items to make without one")
    if errors:
        raise PlanError(errors)
    plan: list[dict[str, Any]] = [{"variables": row, "seed_sample_ids": [], "generation_depth": 0} for row in rows]
    if spec.fewshot_per_item:
        try:
            drawn = fewshot_rows(
                project=spec.project,
                rows=len(rows),
                per_item=spec.fewshot_per_item,
                allow_synthetic=spec.fewshot_allow_synthetic,
                seed=spec.seed,
            )
        except ValueError as error:
            raise PlanError([str(error)]) from None
        for entry, shot in zip(plan, drawn):
            entry["variables"][EXAMPLES_VARIABLE] = shot.examples
            entry["seed_sample_ids"] = list(shot.seed_sample_ids)
            entry["generation_depth"] = shot.generation_depth
    for name in _filled_by_generators(spec.generators) & set(template_variables(spec.template_version.text)):
        for entry in plan:
            # Kept as a placeholder in the item's prompt: the rule-based generator writes it, item by item.
            entry["variables"].setdefault(name, f"{{{{ {name} }}}}")
    check_rows_fill_template(spec.template_version.text, [entry["variables"] for entry in plan])
    for entry, constraint in zip(plan, spec.constraints.assign(len(plan), spec.seed)):
        entry["constraint"] = constraint
    planned_chars = sum(len(value) for entry in plan for value in entry["variables"].values())
    if planned_chars > settings.GENERATION_MAX_PLAN_CHARS:
        raise PlanError(
            [
                f"the run's prompts would hold {planned_chars:,} characters of variables; the limit is "
                f"{settings.GENERATION_MAX_PLAN_CHARS:,}: use fewer rows or few-shot examples"
            ]
        )
    total = len(plan) * len(spec.generators) * len(spec.cells)
    if total > settings.GENERATION_MAX_ITEMS_PER_RUN:
        raise PlanError([f"the run would have {total:,} items; the limit is {settings.GENERATION_MAX_ITEMS_PER_RUN:,}"])
    return plan


def _filled_by_generators(generators: list[Generator]) -> set[str]:
    """The template variables every generator of the run writes itself (a rule-based generator's
    facts and question); none when any generator needs its prompt filled in from the table."""
    filled: set[str] | None = None
    for generator in generators:
        if generator.kind != GeneratorKind.PROGRAMMATIC:
            return set()
        names = get_programmatic(generator.programmatic_name).filled_variables()
        filled = names if filled is None else filled & names
    return filled or set()


def run_preview(spec: RunSpec, *, show: int = 6) -> RunPreview:
    """A dry run: the rendered prompts, the item count and the cost estimate; nothing is saved or sent."""
    plan = run_plan_rows(spec)
    text = spec.template_version.text
    examples = []
    for index, entry in enumerate(plan[:show]):
        examples.append(
            {
                "row": index + 1,
                "constraint": entry["constraint"],
                "prompt": item_prompt(text, entry["variables"], entry["constraint"]),
                "depth": entry["generation_depth"],
            }
        )
    # Token estimate over every row (rendering is cheap next to the calls it stands for).
    row_tokens = sum(estimate_tokens(item_prompt(text, e["variables"], e["constraint"])) for e in plan)
    cells = len(spec.cells)
    costs: list[tuple[str, float | None]] = []
    for generator in spec.generators:
        if generator.kind != GeneratorKind.OPENAI_COMPATIBLE or (
            generator.cost_per_million_input_tokens is None and generator.cost_per_million_output_tokens is None
        ):
            costs.append((generator.name, None))
            continue
        completion = (generator.max_tokens or DEFAULT_COMPLETION_TOKENS) * len(plan) * cells
        cost = (
            float(generator.cost_per_million_input_tokens or 0) * row_tokens * cells
            + float(generator.cost_per_million_output_tokens or 0) * completion
        ) / 1e6
        costs.append((generator.name, cost))
    return RunPreview(
        item_count=len(plan) * len(spec.generators) * cells,
        row_count=len(plan),
        examples=examples,
        prompt_tokens=row_tokens * cells * len(spec.generators),
        cost_by_generator=costs,
    )


def run_create(access: ProjectAccess, *, spec: RunSpec) -> GenerationRun:
    """Save the run and queue it; a worker makes its items and executes them."""
    if spec.project.pk != access.project.pk:
        raise ValueError("the run is planned for another project than the one acted in")
    plan = run_plan_rows(spec)
    with transaction.atomic():
        if GenerationRun.objects.filter(project=spec.project, name=spec.name).exists():
            raise PlanError([f"a run named {spec.name!r} already exists in this project"])
        run = GenerationRun.objects.create(
            project=spec.project,
            name=spec.name,
            template_version=spec.template_version,
            parameters={**spec.parameters(), "constraint_counts": constraint_counts(plan)},
            variable_rows=plan,
            status=RunStatus.QUEUED,
            items_total=len(plan) * len(spec.generators) * len(spec.cells),
            created_by=signed_in_account(access.actor),
        )
        run.generators.set(spec.generators)
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="run.create",
            obj=run,
            details={
                "items": run.items_total,
                "generators": [g.name for g in spec.generators],
                "grid": run.parameters["grid"],
                "constraints": run.parameters["constraints"],
            },
        )
        enqueue_on_commit("generation.tasks.run_execute_task", run.pk)
    return run


def run_create_programmatic(
    access: ProjectAccess,
    *,
    name: str,
    template_version: PromptTemplateVersion,
    generators: list[Generator],
    items: int,
    seed: int,
    framing: str,
) -> GenerationRun:
    """A run of rule-based generators: `items` items each, in one framing."""
    if items < 1:
        raise ValueError("a run needs at least one item")
    for generator in generators:
        if generator.kind != GeneratorKind.PROGRAMMATIC or generator.project_id != access.project.pk:
            raise ValueError(f"{generator.name} is not a programmatic generator of this project")
    spec = RunSpec(
        project=access.project,
        name=name,
        template_version=template_version,
        generators=generators,
        cells=[GridCell(None, None, None)],
        seed=seed,
        table_rows=[{"framing": framing} for _ in range(items)],
    )
    run = run_create(access, spec=spec)
    GenerationRun.objects.filter(pk=run.pk).update(parameters={**run.parameters, "framing": framing})
    run.parameters["framing"] = framing
    return run


def run_prepare(*, run_id: int) -> list[int]:
    """Make the run's items and lanes, once; return the generators with pending items."""
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update(of=("self",)).select_related("template_version").get(pk=run_id)
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return []
        if not RunLane.objects.filter(run=run).exists():
            _items_create(run)
    return list(
        RunItem.objects.filter(run_id=run_id, status=RunItemStatus.PENDING)
        .values_list("generator_id", flat=True)
        .distinct()
        .order_by("generator_id")
    )


def _items_create(run: GenerationRun) -> None:
    generators = list(run.generators.order_by("id"))
    cells = [
        GridCell(**cell) for cell in run.parameters.get("grid") or [{"temperature": None, "top_p": None, "seed": None}]
    ]
    text = run.template_version.text if run.template_version else ""
    batch: list[RunItem] = []
    for generator in generators:
        per_lane = 0
        for row_index, entry in enumerate(run.variable_rows):
            prompt = item_prompt(text, entry["variables"], entry.get("constraint", {}))
            for cell in cells:
                params = cell.as_params()
                batch.append(
                    RunItem(
                        run=run,
                        generator=generator,
                        row_index=row_index,
                        params=params,
                        idempotency_key=idempotency_key(run.pk, row_index, generator.pk, params),
                        variables=entry["variables"],
                        constraint=entry.get("constraint", {}),
                        prompt=prompt,
                        generation_depth=entry.get("generation_depth", 0),
                        seed_sample_ids=entry.get("seed_sample_ids", []),
                    )
                )
                per_lane += 1
                if len(batch) >= ITEM_BATCH:
                    RunItem.objects.bulk_create(batch)
                    batch = []
        RunLane.objects.create(run=run, generator=generator, items_total=per_lane)
    RunItem.objects.bulk_create(batch)


def run_finish_if_done(*, run_id: int) -> GenerationRun:
    """Close the run once no item is pending: completed, or failed when nothing succeeded."""
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update().defer("variable_rows").get(pk=run_id)
        # A queued run with lanes was resumed while its lanes were still working: it is
        # finished like a running one.
        active = run.status == RunStatus.RUNNING or (
            run.status == RunStatus.QUEUED and RunLane.objects.filter(run=run).exists()
        )
        if not active or RunItem.objects.filter(run=run, status=RunItemStatus.PENDING).exists():
            return run
        run.status = RunStatus.FAILED if run.items_done == 0 and run.items_failed else RunStatus.COMPLETED
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "finished_at"])
        audit_log_record(
            project=run.project,
            actor=RUN_WORKER,
            action=f"run.{run.status}",
            obj=run,
            details={"done": run.items_done, "failed": run.items_failed, "samples": run.samples_created},
        )
        if run.samples_created:
            samples_arrived.send(sender=GenerationRun, project_id=run.project_id, requested_by=None)
    return run


def run_resume(
    access: ProjectAccess,
    *,
    run: GenerationRun,
    retry_failed: bool = False,
    enqueue: bool = True,
) -> GenerationRun:
    """Queue the run's pending items again (and its failed ones, when asked). Items
    already done are never redone: their keys are taken. `enqueue=False` leaves the
    execution to the caller (the CLI runs it in its own process)."""
    if run.project_id != access.project.pk:
        raise ValueError(f"run {run.name} is not a run of this project")
    with transaction.atomic():
        run = GenerationRun.objects.select_for_update().defer("variable_rows").get(pk=run.pk)
        if retry_failed:
            failed = RunItem.objects.filter(run=run, status=RunItemStatus.FAILED)
            for lane in RunLane.objects.filter(run=run):
                count = failed.filter(generator_id=lane.generator_id).update(status=RunItemStatus.PENDING, error="")
                RunLane.objects.filter(pk=lane.pk).update(items_failed=F("items_failed") - count)
                GenerationRun.objects.filter(pk=run.pk).update(items_failed=F("items_failed") - count)
        pending = RunItem.objects.filter(run=run, status=RunItemStatus.PENDING).exists()
        if not pending and RunLane.objects.filter(run=run).exists():
            return run
        if run.status != RunStatus.RUNNING:  # a running run stays so: its live lanes finish it
            GenerationRun.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED, finished_at=None)
        audit_log_record(
            project=access.project,
            actor=access.actor,
            action="run.resume",
            obj=run,
            details={"retry_failed": retry_failed},
        )
        if enqueue:
            enqueue_on_commit("generation.tasks.run_execute_task", run.pk)
    run.refresh_from_db()
    return run


def run_cancel(access: ProjectAccess, *, run: GenerationRun) -> GenerationRun:
    """Stop the run: lanes finish the calls in flight and stop; pending items stay pending."""
    if run.project_id != access.project.pk:
        raise ValueError(f"run {run.name} is not a run of this project")
    with transaction.atomic():
        changed = GenerationRun.objects.filter(pk=run.pk, status__in=(RunStatus.QUEUED, RunStatus.RUNNING)).update(
            status=RunStatus.CANCELLED, finished_at=timezone.now()
        )
        if changed:
            audit_log_record(project=access.project, actor=access.actor, action="run.cancel", obj=run)
    run.refresh_from_db()
    return run


def run_execute(*, run_id: int, on_progress: Callable | None = None) -> GenerationRun:
    """Prepare the run and execute every lane in this process (the CLI, the demo, tests)."""
    for generator_id in run_prepare(run_id=run_id):
        lane_execute(run_id=run_id, generator_id=generator_id, on_progress=on_progress)
    GenerationRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=timezone.now()
    )
    return run_finish_if_done(run_id=run_id)
