"""Reading samples: the sample browser's filtered list, one sample with what its page shows, and its
stored neighbours. Each reads through the pages' own selectors with the reader's blinding, so a held
audit item says here exactly what it says on the pages: its texts and label, and nothing of its
lineage, signals or other reviewers' verdicts."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema

from generation.models import Origin, Sample, SampleStatus, Split
from reviews import selectors
from reviews.forms.samples import FLAG_FILTER_CHOICES, VERDICT_FILTER_CHOICES, SampleFilterForm
from reviews.selectors.audits import gold_sample_of
from reviews.selectors.blinding import Blinding, blinding_for
from reviews.selectors.sample_view import Neighbour, sample_in_project
from synthreview.projects.access import ProjectAccess
from synthreview.projects.api.auth import api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import MAX_ID, Cursor, ObjectId, PageSize, Slug

router = Router(tags=["samples"])

# As many neighbours as the sample page lists.
DETAIL_NEIGHBOURS = 10


def _one_of(values: list[str]) -> str:
    return "One of: " + ", ".join(value for value in values if value) + "."


class SampleFilters(Schema):
    """The sample browser's filters; the page's own form checks them (choices are the project's)."""

    q: str | None = Field(None, max_length=200, description="Text the input or output contains.")
    origin: str | None = Field(None, max_length=16, description=_one_of(Origin.values))
    status: str | None = Field(None, max_length=16, description=_one_of(SampleStatus.values))
    split: str | None = Field(None, max_length=16, description=_one_of(Split.values))
    generator: int | None = Field(None, ge=1, le=MAX_ID, description="A generator's id.")
    template: int | None = Field(None, ge=1, le=MAX_ID, description="A prompt template's id.")
    run: int | None = Field(None, ge=1, le=MAX_ID, description="A generation run's id.")
    verdict: str | None = Field(
        None, max_length=16, description=_one_of([value for value, _ in VERDICT_FILTER_CHOICES])
    )
    flag: str | None = Field(
        None, max_length=64, description="A check's name, or " + _one_of([v for v, _ in FLAG_FILTER_CHOICES])
    )
    novelty_min: float | None = Field(None, ge=0.0, le=1.0, description="Novelty from (inclusive).")
    novelty_max: float | None = Field(None, ge=0.0, le=1.0, description="Novelty to (inclusive).")
    cluster: int | None = Field(None, ge=1, le=MAX_ID, description="A cluster's id.")
    group: int | None = Field(None, ge=1, le=MAX_ID, description="A near-duplicate group's id.")


class GeneratorRef(Schema):
    id: int
    name: str


class TemplateRef(Schema):
    id: int
    name: str
    version: int


class SampleItem(Schema):
    """A sample as the browser lists it; for a sample the reader holds in an open audit (`blinded`),
    everything but its texts and label is null or empty."""

    id: int
    blinded: bool
    origin: str | None
    status: str | None
    split: str | None
    input: str
    output: str
    label: str | None
    metadata: dict[str, Any]
    generator: GeneratorRef | None
    template: TemplateRef | None
    run_id: int | None
    created_at: datetime | None
    novelty: float | None


class NeighbourOut(Schema):
    id: int
    similarity: float
    blinded: bool
    origin: str | None
    status: str | None
    generator: GeneratorRef | None
    input: str
    output: str


class GeneratorLineage(Schema):
    id: int
    name: str
    kind: str
    model_name: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    seed: int | None
    sampling_strategy: str
    parameters: dict[str, Any]
    derived_from: list[str]


class RunRef(Schema):
    id: int
    name: str


class ImportRef(Schema):
    id: int
    file_name: str


class Lineage(Schema):
    origin: str
    generator: GeneratorLineage | None
    template: TemplateRef | None
    run: RunRef | None
    import_batch: ImportRef | None
    generation_depth: int
    revision: int


class FlagOut(Schema):
    check: str
    reason: str


class VerdictOut(Schema):
    reviewer: str
    value: str
    error_category: str
    note: str
    audit_id: int | None
    updated_at: datetime


class ClusterRef(Schema):
    id: int
    number: int
    label: str
    is_low_novelty: bool


class GroupRef(Schema):
    id: int
    kind: str
    size: int
    status: str


class GoldOut(Schema):
    expected_value: str
    expected_error_category: str


class SampleDetail(SampleItem):
    """One sample as its page shows it. `gold` is for leads and admins alone, as on the page."""

    lineage: Lineage | None
    flags: list[FlagOut]
    cluster: ClusterRef | None
    groups: list[GroupRef]
    nearest_real: NeighbourOut | None
    neighbours: list[NeighbourOut]
    verdicts: list[VerdictOut]
    gold: GoldOut | None


class NeighboursOut(Schema):
    sample_id: int
    # The sample is held in an open audit: who it resembles would hint where it came from, so none are given.
    withheld: bool
    items: list[NeighbourOut]


def _generator_ref(sample: Sample) -> GeneratorRef | None:
    found = sample.generator
    return GeneratorRef(id=found.pk, name=found.name) if found is not None else None


def _template_ref(sample: Sample) -> TemplateRef | None:
    version = sample.template_version
    if version is None:
        return None
    return TemplateRef(id=version.template_id, name=version.template.name, version=version.version)


def sample_item(sample: Sample, blinding: Blinding, *, novelty: float | None) -> dict[str, Any]:
    """The item's fields; the sample's lineage objects must be loaded with it (LINEAGE_RELATED)."""
    blinded = blinding.hides(sample.pk)
    return {
        "id": sample.pk,
        "blinded": blinded,
        "origin": None if blinded else sample.origin,
        "status": None if blinded else sample.status,
        "split": None if blinded else sample.split,
        "input": sample.input,
        "output": sample.output,
        "label": sample.label,
        "metadata": blinding.metadata(sample.metadata, sample_id=sample.pk),
        "generator": None if blinded else _generator_ref(sample),
        "template": None if blinded else _template_ref(sample),
        "run_id": None if blinded else sample.run_id,
        "created_at": None if blinded else sample.created_at,
        "novelty": None if blinded else novelty,
    }


def _novelty(sample: Sample) -> float | None:
    # Loaded with the page's rows (selectors.sample_page); a sample not yet scored has no row.
    similarity = getattr(sample, "similarity", None)
    return similarity.novelty if similarity is not None else None


def _neighbour_out(sample: Sample, similarity: float, blinding: Blinding) -> NeighbourOut:
    blinded = blinding.hides(sample.pk)
    return NeighbourOut(
        id=sample.pk,
        similarity=similarity,
        blinded=blinded,
        origin=None if blinded else sample.origin,
        status=None if blinded else sample.status,
        generator=None if blinded else _generator_ref(sample),
        input=sample.input,
        output=sample.output,
    )


def _sample_in_project(access: ProjectAccess, sample_id: int) -> Sample:
    found = sample_in_project(access.project, sample_id)
    if found is None:
        raise Http404("No such sample in this project.")
    return found


@router.get("/projects/{slug}/samples", response={200: CursorPage[SampleItem], **COMMON_ERRORS})
def sample_list(
    request: HttpRequest,
    slug: Slug,
    filters: Query[SampleFilters],
    cursor: Cursor = None,
    limit: PageSize = 100,
) -> HttpResponse:
    """The sample browser: its filters, newest first, a page at a time (follow `next_cursor`).
    A filter on anything an open audit hides leaves out the items the reader holds."""
    access = api_project_access(request, slug, "view")
    given = {key: str(value) for key, value in filters.model_dump().items() if value is not None}
    cleaned: dict[str, Any] = {}
    if given:  # a pipeline reading everything names no filter, and the form would only cost it time
        form = SampleFilterForm(given, project=access.project)
        if not form.is_valid():
            raise ValidationError(form.errors.as_data())
        cleaned = form.filters()
    after = cursor_decode(cursor, shape=(int,))
    blinding = blinding_for(request.user, access)
    queryset = selectors.samples_filtered(access.project, cleaned, blinding=blinding)
    older_than = after[0] if after else None
    if connection.vendor == "postgresql" and not blinding.held:
        json_page = selectors.sample_json_page(
            queryset, after=older_than, size=limit, hidden_metadata_keys=blinding.hidden_metadata_keys
        )
        items_json, older = json_page.items_json, json_page.older
    else:
        page = selectors.sample_row_page(queryset, after=older_than, size=limit)
        items_json = json.dumps([_row_item(row, blinding) for row in page.rows], ensure_ascii=False)
        older = page.older
    next_cursor = json.dumps(cursor_encode([older]) if older is not None else None)
    # Written straight to JSON: a pipeline reads a million samples through here, and validating each
    # item against the schema it was built to would cost more than reading it (bench/api.py).
    return HttpResponse(f'{{"items": {items_json}, "next_cursor": {next_cursor}}}', content_type="application/json")


def _row_item(row: tuple, blinding: Blinding) -> dict[str, Any]:
    """A SampleItem from a SAMPLE_LIST_COLUMNS row, blinded as sample_item blinds a sample."""
    (
        sample_id,
        origin,
        status,
        split,
        text_in,
        text_out,
        label,
        metadata,
        generator_id,
        generator_name,
        template_id,
        template_name,
        template_version,
        run_id,
        created_at,
        novelty,
    ) = row
    item: dict[str, Any] = {
        "id": sample_id,
        "blinded": False,
        "origin": origin,
        "status": status,
        "split": split,
        "input": text_in,
        "output": text_out,
        "label": label,
        "metadata": blinding.metadata(metadata, sample_id=sample_id),
        "generator": {"id": generator_id, "name": generator_name} if generator_id is not None else None,
        "template": {"id": template_id, "name": template_name, "version": template_version}
        if template_id is not None
        else None,
        "run_id": run_id,
        "created_at": created_at.isoformat() if created_at is not None else None,
        "novelty": novelty,
    }
    if blinding.hides(sample_id):
        item.update(dict.fromkeys(_HIDDEN_WHEN_BLINDED), blinded=True)
    return item


# What sample_item leaves null for a held sample (its texts, label and emptied metadata stay).
_HIDDEN_WHEN_BLINDED = ("origin", "status", "split", "generator", "template", "run_id", "created_at", "novelty")


@router.get("/projects/{slug}/samples/{sample_id}", response={200: SampleDetail, **COMMON_ERRORS})
def sample_get(request: HttpRequest, slug: Slug, sample_id: ObjectId) -> SampleDetail:
    """One sample with its lineage, checks, novelty, neighbours and verdicts, as its page shows them."""
    access = api_project_access(request, slug, "view")
    sample = _sample_in_project(access, sample_id)
    blinding = blinding_for(request.user, access)
    view = selectors.sample_view(sample, neighbour_limit=DETAIL_NEIGHBOURS, blinding=blinding)
    item = sample_item(sample, blinding, novelty=view.novelty) | {"metadata": view.metadata}
    gold = gold_sample_of(access.project, sample) if access.can("audit") else None
    return SampleDetail(
        **item,
        lineage=None if view.blinded else _lineage(sample),
        flags=[FlagOut(check=flag.check_name, reason=flag.reason) for flag in view.flags],
        cluster=_cluster_ref(view.cluster),
        groups=[
            GroupRef(id=m.group_id, kind=m.group.kind, size=m.group.size, status=m.group.status)
            for m in view.memberships
        ],
        nearest_real=_neighbour(view.nearest_real, blinding),
        neighbours=[_neighbour_out(n.sample, n.similarity, blinding) for n in view.neighbours],
        verdicts=[
            VerdictOut(
                reviewer=verdict.reviewer.get_username(),
                value=verdict.value,
                error_category=verdict.error_category,
                note=verdict.note,
                audit_id=verdict.audit_id,
                updated_at=verdict.updated_at,
            )
            for verdict in view.verdicts
        ],
        gold=GoldOut(expected_value=gold.expected_value, expected_error_category=gold.expected_error_category)
        if gold is not None
        else None,
    )


def _lineage(sample: Sample) -> Lineage:
    found = sample.generator
    return Lineage(
        origin=sample.origin,
        generator=GeneratorLineage(
            id=found.pk,
            name=found.name,
            kind=found.kind,
            model_name=found.model_name,
            temperature=found.temperature,
            top_p=found.top_p,
            max_tokens=found.max_tokens,
            seed=found.seed,
            sampling_strategy=found.sampling_strategy,
            parameters=found.parameters or {},
            derived_from=[str(name) for name in found.derived_from or []],
        )
        if found is not None
        else None,
        template=_template_ref(sample),
        run=RunRef(id=sample.run.pk, name=sample.run.name) if sample.run is not None else None,
        import_batch=ImportRef(id=sample.import_batch.pk, file_name=sample.import_batch.file_name)
        if sample.import_batch is not None
        else None,
        generation_depth=sample.generation_depth,
        revision=sample.revision,
    )


def _cluster_ref(cluster: Any) -> ClusterRef | None:
    if cluster is None:
        return None
    return ClusterRef(id=cluster.pk, number=cluster.number, label=cluster.label, is_low_novelty=cluster.is_low_novelty)


def _neighbour(neighbour: Neighbour | None, blinding: Blinding) -> NeighbourOut | None:
    return _neighbour_out(neighbour.sample, neighbour.similarity, blinding) if neighbour is not None else None


@router.get("/projects/{slug}/samples/{sample_id}/neighbours", response={200: NeighboursOut, **COMMON_ERRORS})
def sample_neighbours(
    request: HttpRequest,
    slug: Slug,
    sample_id: ObjectId,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many, nearest first.")] = 50,
) -> NeighboursOut:
    """The sample's stored nearest neighbours with their similarity, nearest first (the page's
    "find similar"); none for a sample the reader holds in an open audit."""
    access = api_project_access(request, slug, "view")
    anchor = _sample_in_project(access, sample_id)
    blinding = blinding_for(request.user, access)
    blinding.mark([anchor])
    similar = selectors.similar_samples(access.project, anchor.pk, blinding=blinding)[:limit]
    return NeighboursOut(
        sample_id=anchor.pk,
        withheld=blinding.hides(anchor.pk),
        items=[_neighbour_out(sample, similarity, blinding) for sample, similarity in similar],
    )
