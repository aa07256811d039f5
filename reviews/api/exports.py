"""Exports: ask for one with the export page's form, follow it, read what its gates decided, and
download its file and manifest.

An export asked for here passes the same gates as one asked for on the page (recursion, audit,
real share, eval set), with the same audit override: a refused export ends with status `refused`
and its refusals, and no file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from django.http import FileResponse, HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Router, Schema, Status

from reviews.forms.governance import ExportForm
from reviews.models import Export
from reviews.selectors.governance import exports_page
from reviews.services.exports import ExportError, export_file_path, export_request
from synthreview.progress import progress_get, progress_key
from synthreview.projects.access import ProjectAccess
from synthreview.projects.api.auth import api_object, api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS, ApiError, ErrorOut, form_refusal
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import MAX_ID, Cursor, ObjectId, PageSize, Slug

router = Router(tags=["exports"])

BoundedId = Annotated[int, Field(ge=1, le=MAX_ID)]
# Media types of the written files: .jsonl and .parquet are unknown to Python's mimetypes.
CONTENT_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
FILE_RESPONSE = {
    "description": "The export's file, streamed as an attachment named by the server.",
    "content": {
        media_type: {"schema": {"type": "string", "format": "binary"}}
        for media_type in ("application/x-ndjson", "text/csv", "application/vnd.apache.parquet")
    },
}


class ExportIn(Schema):
    format: str = Field(default="jsonl", max_length=16, description="jsonl, csv or parquet.")
    split: str = Field(default="train", max_length=16, description="train or eval.")
    target_model: str = Field(
        default="", max_length=200, description="The model to be trained; empty: every model the policy declares."
    )
    max_generation_depth: int | None = Field(
        default=None, ge=0, le=MAX_ID, description="Empty: the project's own cap, as the page fills it in."
    )
    eval_set_version: BoundedId | None = Field(default=None, description="An eval-set version's id; empty: the latest.")
    excluded_generators: list[BoundedId] = Field(default=[], max_length=1000, description="Generator ids to leave out.")
    audit_override_reason: str = Field(
        default="",
        max_length=2000,
        description="Only to export synthetic samples without a passing audit: why. Goes into the manifest "
        "and the audit log.",
    )


class Accepted(Schema):
    id: int
    status: str
    url: str = Field(description="The GET to poll.")


class DecisionOut(Schema):
    gate: str
    outcome: str
    reason: str
    details: dict[str, Any] = {}


class ExportProgressOut(Schema):
    done: int
    total: int | None
    unit: str
    detail: str
    percent: int | None


class ExportCountsOut(Schema):
    total: int
    real: int
    synthetic: int
    real_share: float | None
    held_back: dict[str, int]


class ExportSummaryOut(Schema):
    id: int
    status: str
    format: str
    split: str
    target_model: str
    eval_set_version: int | None = Field(description="The eval-set version's number.")
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    rows_written: int
    refused_by: list[str] = Field(description="The gates that refused it.")
    url: str


class ExportOut(ExportSummaryOut):
    stage: str
    max_generation_depth: int
    excluded_generators: list[str]
    audit_override_reason: str
    started_at: datetime | None
    rows_total: int
    error: str
    progress: ExportProgressOut | None = Field(description="While the export is queued or running.")
    refusals: list[DecisionOut]
    decisions: list[DecisionOut] = Field(description="Every gate's decision, once finished.")
    counts: ExportCountsOut | None
    file_name: str
    size_bytes: int | None
    sha256: str
    file_url: str | None = Field(description="Once completed.")
    manifest_url: str | None = Field(description="Once finished with a manifest.")


def _url(name: str, slug: str, export_id: int) -> str:
    return reverse(f"api-v1:{name}", kwargs={"slug": slug, "export_id": export_id})


def _export(access: ProjectAccess, export_id: int) -> Export:
    return api_object(access, Export, "export", export_id)


def _summary_fields(export: Export, slug: str) -> dict[str, Any]:
    version = export.eval_set_version
    return {
        "id": export.pk,
        "status": export.status,
        "format": export.format,
        "split": export.split,
        "target_model": export.target_model,
        "eval_set_version": version.version if version is not None else None,
        "created_by": export.created_by.username if export.created_by is not None else None,
        "created_at": export.created_at,
        "finished_at": export.finished_at,
        "rows_written": export.rows_written,
        "refused_by": [refusal["gate"] for refusal in export.refusals or []],
        "url": _url("export_get", slug, export.pk),
    }


def _counts(manifest: dict | None) -> ExportCountsOut | None:
    if not manifest:
        return None
    counts = manifest["counts"]
    return ExportCountsOut(
        total=counts["total"],
        real=counts["by_origin"].get("real", 0),
        synthetic=counts["by_origin"].get("synthetic", 0),
        real_share=manifest.get("real_share"),
        held_back=manifest.get("held_back") or {},
    )


@router.get("/projects/{slug}/exports", response={200: CursorPage[ExportSummaryOut], **COMMON_ERRORS})
def export_list(
    request: HttpRequest, slug: Slug, cursor: Cursor = None, limit: PageSize = 100
) -> CursorPage[ExportSummaryOut]:
    """The project's exports, newest first."""
    access = api_project_access(request, slug, "export")
    before = cursor_decode(cursor, shape=(int,))
    exports, older = exports_page(access.project, before=before[0] if before else None, size=limit)
    return CursorPage[ExportSummaryOut](
        items=[ExportSummaryOut(**_summary_fields(export, slug)) for export in exports],
        next_cursor=cursor_encode([older]) if older is not None else None,
    )


@router.post("/projects/{slug}/exports", response={202: Accepted, **COMMON_ERRORS})
def export_ask(request: HttpRequest, slug: Slug, payload: ExportIn, response: HttpResponse) -> Status[Accepted]:
    """Ask for an export as the exports page does: 202 with the export to poll. A worker decides the
    gates and writes the file; a refused export ends with status `refused` and its refusals."""
    access = api_project_access(request, slug, "export")
    project = access.project
    data: dict[str, Any] = {
        "format": payload.format,
        "split": payload.split,
        "target_model": payload.target_model,
        # The page fills in the project's cap; a client that names none gets the same.
        "max_generation_depth": project.max_generation_depth
        if payload.max_generation_depth is None
        else payload.max_generation_depth,
        "eval_set_version": payload.eval_set_version or "",
        "excluded_generators": payload.excluded_generators,
        "audit_override_reason": payload.audit_override_reason,
    }
    form = ExportForm(data, project=project)
    if not form.is_valid():
        raise form_refusal(form)
    cleaned = form.cleaned_data
    try:
        export = export_request(
            access,
            format=cleaned["format"],
            split=cleaned["split"],
            target_model=cleaned["target_model"],
            max_generation_depth=cleaned["max_generation_depth"],
            eval_set_version=cleaned["eval_set_version"],
            excluded_generator_ids=[g.pk for g in cleaned["excluded_generators"]],
            audit_override_reason=cleaned["audit_override_reason"],
        )
    except ExportError as error:
        raise ApiError(422, "invalid", str(error)) from None
    url = _url("export_get", slug, export.pk)
    response["Location"] = url
    return Status(202, Accepted(id=export.pk, status=export.status, url=url))


@router.get("/projects/{slug}/exports/{export_id}", response={200: ExportOut, **COMMON_ERRORS})
def export_get(request: HttpRequest, slug: Slug, export_id: ObjectId) -> ExportOut:
    """An export's status, what its gates decided (refusals included), its counts, and once it is
    completed the URLs of its file and manifest; poll until the status is completed, refused or failed."""
    access = api_project_access(request, slug, "export")
    export = _export(access, export_id)
    progress = None
    if not export.finished:
        found = progress_get(progress_key("export", export.pk))
        if found is not None:
            progress = ExportProgressOut(
                done=found.done, total=found.total, unit=found.unit, detail=found.detail, percent=found.percent
            )
    manifest = export.manifest
    return ExportOut(
        **_summary_fields(export, slug),
        stage=export.stage,
        max_generation_depth=export.max_generation_depth,
        excluded_generators=list(export.excluded_generators.order_by("name").values_list("name", flat=True)),
        audit_override_reason=export.audit_override_reason,
        started_at=export.started_at,
        rows_total=export.rows_total,
        error=export.error,
        progress=progress,
        refusals=[DecisionOut(**refusal) for refusal in export.refusals or []],
        decisions=[DecisionOut(**decision) for decision in (manifest or {}).get("decisions", [])],
        counts=_counts(manifest),
        file_name=export.file_name,
        size_bytes=export.size_bytes,
        sha256=export.sha256,
        file_url=_url("export_file", slug, export.pk) if export.status == "completed" else None,
        manifest_url=_url("export_manifest", slug, export.pk) if export.finished and manifest is not None else None,
    )


@router.get(
    "/projects/{slug}/exports/{export_id}/file",
    response={409: ErrorOut, **COMMON_ERRORS},
    openapi_extra={"responses": {200: FILE_RESPONSE}},
)
def export_file(request: HttpRequest, slug: Slug, export_id: ObjectId) -> FileResponse:
    """The export's file, streamed: 409 while the export is still being made, 404 when it has no file
    (refused or failed)."""
    access = api_project_access(request, slug, "export")
    export = _export(access, export_id)
    if not export.finished:
        raise ApiError(409, "conflict", f"Export {export.pk} is {export.status}: poll it until it is completed.")
    path = export_file_path(export)
    if path is None:
        raise ApiError(404, "not_found", f"Export {export.pk} has no file to download (it is {export.status}).")
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=export.file_name,
        content_type=CONTENT_TYPES.get(export.format, "application/octet-stream"),
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@router.get(
    "/projects/{slug}/exports/{export_id}/manifest", response={200: dict[str, Any], 409: ErrorOut, **COMMON_ERRORS}
)
def export_manifest(request: HttpRequest, slug: Slug, export_id: ObjectId) -> dict[str, Any]:
    """The export's manifest (what was selected, counted, decided and written): 409 while the export
    is still being made."""
    access = api_project_access(request, slug, "export")
    export = _export(access, export_id)
    if not export.finished:
        raise ApiError(
            409, "conflict", f"Export {export.pk} is {export.status}: its manifest is written when it finishes."
        )
    if export.manifest is None:
        raise ApiError(404, "not_found", "This export finished without a manifest; see its error.")
    return export.manifest
