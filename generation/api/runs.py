"""Generators and generation runs: read a project's generators, launch a run, and follow its progress.

The run page's form defines the run here too (its grid and its variable table), so the API refuses
what the page refuses with the same messages; a run is then queued, and its progress is read from
the same lanes the page polls.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Router, Schema, Status

from generation.forms.runs import RunForm
from generation.models import GenerationRun, Generator, RunLane
from generation.runs.plan import PlanError
from generation.selectors.generators import generator_name, generator_row, project_generators_page
from generation.selectors.runs import (
    RUN_FINISHED_STATUSES,
    project_runs_page,
    run_failed_items,
    run_flag_counts,
    run_in_project,
    run_lanes,
    run_totals,
    run_unattended_lanes,
)
from generation.services.runs import run_create
from synthreview.projects.api.auth import api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS, ApiError, ErrorDetail, form_refusal
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import MAX_ID, Cursor, ObjectId, PageSize, Slug

router = Router(tags=["runs"])

BoundedId = Annotated[int, Field(ge=1, le=MAX_ID)]
# Seeds are stored in JSON and handed to the endpoint: any signed 64-bit value, as the model's seed field holds.
BoundedSeed = Annotated[int, Field(ge=-(2**63), le=MAX_ID)]
# What the page's form names the table upload, and what a JSON body calls it.
FORM_FIELD_NAMES = {"variables_file": "variables"}


class GeneratorOut(Schema):
    id: int
    name: str
    kind: str
    model_name: str
    programmatic_name: str
    derived_from: list[str]
    lineage: list[str]
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    seed: int | None
    sampling_strategy: str
    parameters: dict[str, Any]
    concurrency: int
    rate_limit_per_minute: int | None
    request_timeout_s: float
    cost_per_million_input_tokens: float | None
    cost_per_million_output_tokens: float | None
    endpoint_host: str = Field(description="The endpoint's host name, as the generators page shows it to everyone.")
    api_key_env: str = Field(description="The name of the environment variable holding the key; never the key.")
    endpoint: str | None = Field(description="The full base URL: admins only, null for everyone else.")
    key_status: str | None = Field(
        description="Whether the key variable is set on the server ('set', 'not set in the environment', or ''): "
        "admins only, null for everyone else."
    )
    created_at: datetime


class RunGeneratorOut(Schema):
    id: int
    name: str


class RunSummaryOut(Schema):
    id: int
    name: str
    status: str
    template: str | None
    template_version: int | None
    generators: list[RunGeneratorOut]
    items_total: int
    items_done: int
    items_failed: int
    samples_created: int
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    url: str


class RunProgressOut(Schema):
    items_total: int
    done: int
    failed: int
    pending: int
    samples: int
    duplicates: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None = Field(description="Estimated from the generators' prices; null when none is priced.")
    finished_share: float


class RunLaneOut(Schema):
    generator_id: int
    generator: str
    items_total: int
    done: int
    failed: int
    pending: int
    samples: int
    prompt_tokens: int
    completion_tokens: int
    mean_latency_ms: float | None
    cost: float | None


class RunFailedItemOut(Schema):
    id: int
    row: int
    generator: str
    params: dict[str, Any]
    attempts: int
    error: str


class RunOut(RunSummaryOut):
    finished: bool
    grid: list[dict[str, Any]]
    progress: RunProgressOut
    lanes: list[RunLaneOut]
    failed_items: list[RunFailedItemOut] = Field(description="The first 50 failed items in row order.")
    flag_counts: dict[str, int]
    unattended_lanes: list[str] = Field(description="Generators whose pending items no worker holds right now.")


class RunIn(Schema):
    name: str = Field(max_length=200)
    template_version: BoundedId
    generators: list[BoundedId] = Field(max_length=100)
    temperatures: list[float] = Field(default=[], max_length=50, description="Empty: each generator's own.")
    top_ps: list[float] = Field(default=[], max_length=50, description="Empty: each generator's own.")
    seeds: list[BoundedSeed] = Field(default=[], max_length=50, description="Empty: each generator's own.")
    variables: list[dict[str, Any]] | None = Field(
        default=None, description="The variable table: one object of variables per prompt."
    )
    fewshot_per_item: int = Field(default=0, ge=0, le=MAX_ID)
    fewshot_items: int = Field(default=0, ge=0, le=MAX_ID)
    fewshot_allow_synthetic: bool = False
    constraints: str = Field(default="", max_length=20_000, description="One dimension a line, as on the page.")
    seed: BoundedSeed = 0

    def form_data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "template_version": self.template_version,
            "generators": self.generators,
            "temperatures": ", ".join(str(value) for value in self.temperatures),
            "top_ps": ", ".join(str(value) for value in self.top_ps),
            "seeds": ", ".join(str(value) for value in self.seeds),
            "fewshot_per_item": self.fewshot_per_item,
            "fewshot_items": self.fewshot_items,
            "fewshot_allow_synthetic": self.fewshot_allow_synthetic,
            "constraints": self.constraints,
            "seed": self.seed,
        }

    def form_files(self) -> dict[str, SimpleUploadedFile]:
        if self.variables is None:
            return {}
        # The form reads the table as the page's upload, so its size limit, row limit and
        # per-line refusals hold here too: line N is the table's Nth object.
        lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in self.variables)
        return {"variables_file": SimpleUploadedFile("variables.jsonl", lines.encode(), "application/x-ndjson")}


class Accepted(Schema):
    id: int
    status: str
    url: str = Field(description="The GET to poll.")


def _run_url(slug: str, run_id: int) -> str:
    return reverse("api-v1:run_get", kwargs={"slug": slug, "run_id": run_id})


def _generator_out(generator: Generator, *, admin: bool) -> GeneratorOut:
    row = generator_row(generator, show_key_status=admin)

    def price(value: Any) -> float | None:
        return None if value is None else float(value)

    return GeneratorOut(
        id=generator.pk,
        name=generator.name,
        kind=generator.kind,
        model_name=generator.model_name,
        programmatic_name=generator.programmatic_name,
        derived_from=list(generator.derived_from or []),
        lineage=generator.lineage,
        temperature=generator.temperature,
        top_p=generator.top_p,
        max_tokens=generator.max_tokens,
        seed=generator.seed,
        sampling_strategy=generator.sampling_strategy,
        parameters=generator.parameters or {},
        concurrency=generator.concurrency,
        rate_limit_per_minute=generator.rate_limit_per_minute,
        request_timeout_s=generator.request_timeout_s,
        cost_per_million_input_tokens=price(generator.cost_per_million_input_tokens),
        cost_per_million_output_tokens=price(generator.cost_per_million_output_tokens),
        endpoint_host=row.endpoint_host,
        api_key_env=generator.api_key_env,
        endpoint=generator.endpoint if admin else None,
        key_status=row.key_status if admin else None,
        created_at=generator.created_at,
    )


def _summary_fields(run: GenerationRun, slug: str) -> dict[str, Any]:
    version = run.template_version
    return {
        "id": run.pk,
        "name": run.name,
        "status": run.status,
        "template": version.template.name if version is not None else None,
        "template_version": version.version if version is not None else None,
        "generators": [RunGeneratorOut(id=g.pk, name=g.name) for g in run.generators.all()],
        "items_total": run.items_total,
        "items_done": run.items_done,
        "items_failed": run.items_failed,
        "samples_created": run.samples_created,
        "created_by": run.created_by.username if run.created_by is not None else None,
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "url": _run_url(slug, run.pk),
    }


def _lane_out(lane: RunLane) -> RunLaneOut:
    return RunLaneOut(
        generator_id=lane.generator_id,
        generator=lane.generator.name,
        items_total=lane.items_total,
        done=lane.items_done,
        failed=lane.items_failed,
        pending=lane.items_pending,
        samples=lane.samples_created,
        prompt_tokens=lane.prompt_tokens,
        completion_tokens=lane.completion_tokens,
        mean_latency_ms=lane.latency_ms_total / lane.items_done if lane.items_done else None,
        cost=lane.cost_estimate,
    )


@router.get("/projects/{slug}/generators", response={200: CursorPage[GeneratorOut], **COMMON_ERRORS})
def generator_list(
    request: HttpRequest, slug: Slug, cursor: Cursor = None, limit: PageSize = 100
) -> CursorPage[GeneratorOut]:
    """The project's generators by name, with their sampling settings. Endpoints are the admins'
    business: everyone sees the endpoint's host and the key variable's name (as on the generators
    page); only admins get the full base URL and whether the key is set on the server."""
    access = api_project_access(request, slug, "view")
    after = cursor_decode(cursor, shape=(int,))
    after_name = None
    if after is not None:
        after_name = generator_name(access.project, after[0])
        if after_name is None:
            raise ApiError(
                422, "invalid", "The cursor is not one this server gave; start again without it.", field="cursor"
            )
    rows, last = project_generators_page(access.project, after_name=after_name, size=limit)
    admin = access.can("generators")
    return CursorPage[GeneratorOut](
        items=[_generator_out(generator, admin=admin) for generator in rows],
        next_cursor=cursor_encode([last]) if last is not None else None,
    )


@router.get("/projects/{slug}/runs", response={200: CursorPage[RunSummaryOut], **COMMON_ERRORS})
def run_list(
    request: HttpRequest, slug: Slug, cursor: Cursor = None, limit: PageSize = 100
) -> CursorPage[RunSummaryOut]:
    """The project's runs, newest first, with the counters the runs page shows."""
    access = api_project_access(request, slug, "view")
    before = cursor_decode(cursor, shape=(int,))
    runs, older = project_runs_page(access.project, before=before[0] if before else None, size=limit)
    return CursorPage[RunSummaryOut](
        items=[RunSummaryOut(**_summary_fields(run, slug)) for run in runs],
        next_cursor=cursor_encode([older]) if older is not None else None,
    )


@router.get("/projects/{slug}/runs/{run_id}", response={200: RunOut, **COMMON_ERRORS})
def run_get(request: HttpRequest, slug: Slug, run_id: ObjectId) -> RunOut:
    """A run's status and progress, lane by lane, as the run page polls it; poll until `finished`."""
    access = api_project_access(request, slug, "view")
    run = run_in_project(access.project, run_id)
    if run is None:
        raise Http404("No such run in this project.")
    lanes = run_lanes(run)
    totals = run_totals(run, lanes)
    return RunOut(
        **_summary_fields(run, slug),
        finished=run.status in RUN_FINISHED_STATUSES,
        grid=list(run.parameters.get("grid") or []),
        progress=RunProgressOut(
            items_total=totals.items_total,
            done=totals.done,
            failed=totals.failed,
            pending=totals.pending,
            samples=totals.samples,
            duplicates=totals.duplicates,
            prompt_tokens=totals.prompt_tokens,
            completion_tokens=totals.completion_tokens,
            cost=totals.cost,
            finished_share=totals.finished_share,
        ),
        lanes=[_lane_out(lane) for lane in lanes],
        failed_items=[
            RunFailedItemOut(
                id=item.pk,
                row=item.row_index + 1,
                generator=item.generator.name,
                params=item.params,
                attempts=item.attempts,
                error=item.error,
            )
            for item in run_failed_items(run)
        ],
        flag_counts=dict(run_flag_counts(run)),
        unattended_lanes=[lane.generator.name for lane in run_unattended_lanes(run, lanes)],
    )


@router.post("/projects/{slug}/runs", response={202: Accepted, **COMMON_ERRORS})
def run_launch(request: HttpRequest, slug: Slug, payload: RunIn, response: HttpResponse) -> Status[Accepted]:
    """Define a run as the new-run page does and queue it: 202 with the run to poll. The grid's values
    and the variable table are checked as on the page; a plan that cannot run is a 422 listing why."""
    access = api_project_access(request, slug, "generate")
    form = RunForm(payload.form_data(), payload.form_files(), project=access.project)
    if not form.is_valid():
        raise form_refusal(form, field_names=FORM_FIELD_NAMES)
    try:
        run = run_create(access, spec=form.spec())
    except PlanError as error:
        raise ApiError(
            422,
            "invalid",
            "; ".join(error.errors),
            errors=[ErrorDetail(message=message) for message in error.errors],
        ) from None
    url = _run_url(slug, run.pk)
    response["Location"] = url
    return Status(202, Accepted(id=run.pk, status=run.status, url=url))
