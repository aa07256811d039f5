"""The eval set's frozen versions: list them, and freeze the eval split into a new one, as the
eval-set page does (leads and admins; the page's need)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from reviews.forms.governance import EvalFreezeForm
from reviews.models import EvalSetVersion
from reviews.selectors.governance import eval_set_versions_page
from reviews.services.eval_sets import EvalSetError, eval_set_version_create
from synthreview.projects.api.auth import api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS, ApiError
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import Cursor, PageSize, Slug

router = Router(tags=["eval set"])


class LeakCheckOut(Schema):
    status: str
    samples_checked: int
    leaks_found: int


class EvalSetVersionOut(Schema):
    id: int
    number: int
    hash: str = Field(description="sha256 over the members' sorted content hashes.")
    size: int = Field(description="How many samples the version holds.")
    frozen_at: datetime
    frozen_by: str | None
    note: str
    leak_check: LeakCheckOut | None = Field(description="The train side checked against it; null until queued.")


class FreezeIn(Schema):
    note: str = Field(default="", max_length=2000, description="What changed, for whoever reads the manifest later.")


def _version_out(version: EvalSetVersion) -> EvalSetVersionOut:
    try:
        check = version.leak_check
    except ObjectDoesNotExist:
        check = None
    return EvalSetVersionOut(
        id=version.pk,
        number=version.version,
        hash=version.content_hash,
        size=version.member_count,
        frozen_at=version.created_at,
        frozen_by=version.created_by.username if version.created_by is not None else None,
        note=version.note,
        leak_check=None
        if check is None
        else LeakCheckOut(status=check.status, samples_checked=check.samples_checked, leaks_found=check.leaks_found),
    )


@router.get("/projects/{slug}/eval-set/versions", response={200: CursorPage[EvalSetVersionOut], **COMMON_ERRORS})
def eval_set_version_list(
    request: HttpRequest, slug: Slug, cursor: Cursor = None, limit: PageSize = 100
) -> CursorPage[EvalSetVersionOut]:
    """The frozen versions, newest first."""
    access = api_project_access(request, slug, "export")
    before = cursor_decode(cursor, shape=(int,))
    versions, older = eval_set_versions_page(access.project, before=before[0] if before else None, size=limit)
    return CursorPage[EvalSetVersionOut](
        items=[_version_out(version) for version in versions],
        next_cursor=cursor_encode([older]) if older is not None else None,
    )


@router.post("/projects/{slug}/eval-set/versions", response={201: EvalSetVersionOut, **COMMON_ERRORS})
def eval_set_freeze(request: HttpRequest, slug: Slug, payload: FreezeIn) -> Status[EvalSetVersionOut]:
    """Freeze the eval split's members into a new version; the train side is then checked for leaks
    against it. 422 when the split is empty or unchanged since the latest version."""
    access = api_project_access(request, slug, "export")
    form = EvalFreezeForm({"note": payload.note})
    if not form.is_valid():
        raise ValidationError(dict(form.errors.as_data()))
    try:
        version = eval_set_version_create(access, note=form.cleaned_data["note"])
    except EvalSetError as error:
        raise ApiError(422, "invalid", str(error)) from None
    return Status(201, _version_out(version))
