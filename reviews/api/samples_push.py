"""Pushing samples: one JSON Lines body imported at once, all or nothing, as the import page imports
a file, and the import's status afterwards.

The body is streamed to disk (never `request.body`: Django holds that in memory and stops at
DATA_UPLOAD_MAX_MEMORY_SIZE) while its digest is taken, so a retried push with the same
Idempotency-Key is told from a different push that reused the key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from ninja import Header, Query, Schema, Status
from pydantic import StringConstraints

from generation.forms.imports import ImportForm
from generation.ingest.mapping import MAPPABLE_FIELDS
from generation.models import ImportBatch, ImportFormat, ImportStatus
from generation.services.import_push import ImportKeyConflict, PushTooLarge, import_push, import_push_store
from generation.services.imports import import_error_lines, import_problems
from reviews.api.samples import router
from synthreview.projects.api.auth import api_object, api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS, ApiError, ErrorDetail, ErrorOut
from synthreview.projects.api.params import ObjectId, Slug

# samples.router: GET and POST /projects/{slug}/samples must share one router, or the second is never reached.
__all__ = ["router"]

PUSH_CONTENT_TYPES = ("application/x-ndjson", "application/jsonl")
# The form's own fields, named as this operation's parameters are.
_PARAMETER_OF_FIELD = {"mapping": "map", "file": "body", "format": "body"}
# A FIELD=COLUMN pair: one line, as the page's mapping box takes one pair a line.
MapPair = Annotated[str, StringConstraints(max_length=400, pattern=r"^[^\r\n]*$")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Names the push, so a retry imports nothing twice: the same key with the same body answers "
        "the first push's result (replayed); with another body, 409.",
    ),
]


class ImportOut(Schema):
    batch_id: int
    status: str
    rows_read: int
    imported: int
    duplicates: int
    replayed: bool = False
    errors: list[ErrorDetail] = []
    created_at: datetime
    finished_at: datetime | None
    url: str


def _error_details(batch: ImportBatch) -> list[ErrorDetail]:
    return [ErrorDetail(message=reason, line=line) for line, reason in import_error_lines(batch.errors or [])]


def _import_out(slug: str, batch: ImportBatch, *, replayed: bool = False) -> ImportOut:
    return ImportOut(
        batch_id=batch.pk,
        status=batch.status,
        rows_read=batch.rows_read,
        imported=batch.rows_imported,
        duplicates=batch.rows_duplicate,
        replayed=replayed,
        errors=_error_details(batch),
        created_at=batch.created_at,
        finished_at=batch.finished_at,
        url=reverse("api-v1:import_get", kwargs={"slug": slug, "batch_id": batch.pk}),
    )


def _options_check(origin: str, generator: str, template: str, pairs: list[str]) -> ImportForm:
    """The import page's own form checks the options: the mapping, and which origin takes a generator.
    It checks the file too, which here is the body, checked by the import itself; so the form is
    given a stand-in file, before the body is read, and a wrong option costs no upload."""
    form = ImportForm(
        {"origin": origin, "generator": generator, "template": template, "mapping": "\n".join(pairs)},
        MultiValueDict({"file": [SimpleUploadedFile(f"push.{ImportFormat.JSONL}", b"{}")]}),
    )
    if not form.is_valid():
        details = [
            ErrorDetail(message=" ".join(str(m) for m in messages), field=_PARAMETER_OF_FIELD.get(name, name))
            for name, messages in form.errors.items()
        ]
        raise ApiError(422, "invalid", details[0].message, field=details[0].field, errors=details)
    return form


def _content_type_check(request: HttpRequest) -> None:
    if request.content_type not in PUSH_CONTENT_TYPES:
        raise ApiError(
            415,
            "unsupported_media_type",
            f"Send the samples as JSON Lines, with Content-Type {' or '.join(PUSH_CONTENT_TYPES)}.",
            field="Content-Type",
        )


def _size_check(request: HttpRequest) -> None:
    # A body that says its size up front is refused before it is read.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.API_PUSH_MAX_BYTES:
        raise ApiError(413, "too_large", str(PushTooLarge(settings.API_PUSH_MAX_BYTES)))


@router.post(
    "/projects/{slug}/samples",
    response={200: ImportOut, 201: ImportOut, 409: ErrorOut, 413: ErrorOut, 415: ErrorOut, **COMMON_ERRORS},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {content_type: {"schema": {"type": "string"}} for content_type in PUSH_CONTENT_TYPES},
        }
    },
)
def samples_push(
    request: HttpRequest,
    response: HttpResponse,
    slug: Slug,
    origin: Annotated[
        Literal["real", "synthetic"], Query(description="The origin of every row that maps none of its own.")
    ],
    idempotency_key: IdempotencyKey = None,
    generator: Annotated[str, Query(max_length=200, description="The generator of every synthetic row.")] = "",
    template: Annotated[str, Query(max_length=200, description="The prompt template of every synthetic row.")] = "",
    mapping: Annotated[
        list[MapPair],
        Query(
            alias="map",
            max_length=len(MAPPABLE_FIELDS),
            description=f"FIELD=COLUMN, repeated: read FIELD ({', '.join(MAPPABLE_FIELDS)}) from COLUMN, "
            "as the import page's mapping and the CLI's --map.",
        ),
    ] = [],  # noqa: B006 - pydantic copies a mutable default per request
) -> Status[ImportOut]:
    """Import a batch of samples, one JSON object a line: every line or none. A refusal names each
    bad line (`errors[].line`; `line` is the first). Send an Idempotency-Key to retry safely."""
    access = api_project_access(request, slug, "import")
    _content_type_check(request)
    options = _options_check(origin, generator, template, mapping).cleaned_data
    _size_check(request)
    try:
        stored = import_push_store(access, read=request.read, max_bytes=settings.API_PUSH_MAX_BYTES)
    except PushTooLarge as too_large:
        raise ApiError(413, "too_large", str(too_large)) from None
    try:
        pushed = import_push(
            access,
            path=stored.path,
            content_sha256=stored.content_sha256,
            idempotency_key=idempotency_key or "",
            origin=options["origin"],
            generator_name=options["generator"].strip(),
            template_name=options["template"].strip(),
            mapping=options["mapping"],
        )
    except ImportKeyConflict as conflict:
        raise ApiError(409, "conflict", str(conflict), field="Idempotency-Key") from None
    batch = pushed.batch
    if batch.status != ImportStatus.COMPLETED:
        details = _error_details(batch)
        first_line = next((detail.line for detail in details if detail.line is not None), None)
        problems = import_problems(batch.errors or [])
        raise ApiError(
            422,
            "invalid",
            " ".join([f"Nothing was imported: {problems.summary} in the push (import {batch.pk}).", *problems.hints]),
            line=first_line,
            errors=details,
        )
    out = _import_out(slug, batch, replayed=pushed.replayed)
    response["Location"] = out.url
    return Status(200 if pushed.replayed else 201, out)


@router.get("/projects/{slug}/imports/{batch_id}", response={200: ImportOut, **COMMON_ERRORS})
def import_get(request: HttpRequest, slug: Slug, batch_id: ObjectId) -> ImportOut:
    """An import's status, counts and, when refused, its errors by line."""
    access = api_project_access(request, slug, "import")
    return _import_out(slug, api_object(access, ImportBatch, "import", batch_id))
