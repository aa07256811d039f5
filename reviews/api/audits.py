"""Audits and the noise floor through the API: the list, one audit's figures, creating and closing
one, and the project's pooled noise floor.

Each operation calls what the matching page calls (reviews/views/audits.py) with the same need,
and hides what that page hides: while an audit is open, experts see its progress but not its
figures, and never the disagreements on items an open audit holds.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Query, Router, Status

from reviews.api.audits_schemas import (
    AuditCloseIn,
    AuditIn,
    AuditOut,
    AuditSummaryOut,
    FiguresOut,
    NoiseFloorReportOut,
    PooledFloorOut,
    ProgressOut,
)
from reviews.api.verdicts import caller
from reviews.forms.audits import AuditCloseForm, AuditForm
from reviews.models import Audit, AuditStatus
from reviews.selectors.audit_queue import audit_progress, audits_progress
from reviews.selectors.audits import audit_figures, audit_reread, audits_page
from reviews.selectors.blinding import blinding_for
from reviews.selectors.noise_floor import closed_audits, noise_floor_by
from reviews.services.audits import AuditClosed, audit_close
from synthreview.projects.access import ProjectAccess
from synthreview.projects.api.auth import api_object, api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS, ApiError, ErrorOut, form_refusal
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import Cursor, ObjectId, PageSize, Slug

router = Router(tags=["audits"])

# The API's names for the breakdowns the noise-floor page shows (reviews.selectors.audits.BREAKDOWNS).
BREAKDOWN_KEYS = {"generator": "generator", "template": "template_version", "run": "run"}


def _audit_out(request: HttpRequest, access: ProjectAccess, audit: Audit) -> AuditOut:
    """One audit as its page shows it to the caller (reviews.views.audits._audit_detail_page)."""
    figures = audit_figures(audit)
    if (blinding := blinding_for(request.user, access)).held:
        figures = {**figures, "disagreements": blinding.left_out(figures.get("disagreements") or [])}
    # While an audit is open, experts see only progress: the running noise floor would anchor their verdicts.
    show_figures = access.can("audit") or audit.status == AuditStatus.CLOSED
    progress = ProgressOut.of(audit_progress(audit, caller(request)), mine=True)
    return AuditOut(
        **AuditSummaryOut.fields_of(audit, progress),
        figures=FiguresOut.of(figures) if show_figures else None,
    )


@router.get("/projects/{slug}/audits", response={200: CursorPage[AuditSummaryOut], **COMMON_ERRORS})
def audit_list(
    request: HttpRequest, slug: Slug, cursor: Cursor = None, limit: PageSize = 100
) -> CursorPage[AuditSummaryOut]:
    """The project's audits, newest first, with their progress and, once closed, their frozen noise floor."""
    access = api_project_access(request, slug, "review")
    after = cursor_decode(cursor, shape=(int,))
    page, more = audits_page(access.project, before=after[0] if after is not None else None, size=limit)
    progress = audits_progress(page)
    return CursorPage[AuditSummaryOut](
        items=[
            AuditSummaryOut(**AuditSummaryOut.fields_of(audit, ProgressOut.of(progress[audit.pk], mine=False)))
            for audit in page
        ],
        next_cursor=cursor_encode([page[-1].pk]) if more else None,
    )


@router.get("/projects/{slug}/audits/{audit_id}", response={200: AuditOut, **COMMON_ERRORS})
def audit_read(request: HttpRequest, slug: Slug, audit_id: ObjectId) -> AuditOut:
    """One audit with its figures: noise floor with its Wilson interval, breakdowns, error categories,
    agreement, reviewers and disagreements (for experts, only once the audit has closed)."""
    access = api_project_access(request, slug, "review")
    return _audit_out(request, access, audit_reread(api_object(access, Audit, "audit", audit_id)))


@router.post("/projects/{slug}/audits", response={201: AuditOut, **COMMON_ERRORS})
def audit_create_endpoint(request: HttpRequest, slug: Slug, payload: AuditIn) -> Status[AuditOut]:
    """Draw an audit, as the audit page's form does: n synthetic samples stratified over the scope's
    generators and template versions, with gold items mixed in blind. Refusals name the form's field."""
    access = api_project_access(request, slug, "audit")
    form = AuditForm(
        {name: value for name, value in payload.model_dump().items() if value is not None}, project=access.project
    )
    if not form.is_valid():
        raise form_refusal(form)
    audit = form.audit_draw(access)
    return Status(201, _audit_out(request, access, audit_reread(audit)))


@router.post(
    "/projects/{slug}/audits/{audit_id}/close",
    response={200: AuditOut, 409: ErrorOut, **COMMON_ERRORS},
)
def audit_close_endpoint(request: HttpRequest, slug: Slug, audit_id: ObjectId, payload: AuditCloseIn) -> AuditOut:
    """Close the audit and freeze its figures. Closing early, or with split items nobody decided,
    needs a `reason` (422 naming it); an audit already closed answers 409."""
    access = api_project_access(request, slug, "audit")
    audit = api_object(access, Audit, "audit", audit_id)
    form = AuditCloseForm(
        {"reason": payload.reason}, figures=audit_figures(audit) if audit.status == AuditStatus.OPEN else None
    )
    if not form.is_valid():
        raise form_refusal(form)
    try:
        # A verdict arriving between the form's check and the service's is refused on `reason` too.
        closed = audit_close(access, audit=audit, reason=form.cleaned_data["reason"])
    except AuditClosed as refused:
        raise ApiError(409, "conflict", str(refused)) from None
    return _audit_out(request, access, audit_reread(closed))


@router.get("/projects/{slug}/noise-floor", response={200: NoiseFloorReportOut, **COMMON_ERRORS})
def noise_floor(
    request: HttpRequest, slug: Slug, by: Query[Literal["generator", "template", "run"]] = "generator"
) -> NoiseFloorReportOut:
    """The noise floor pooled over the project's closed audits per generator, template version or run,
    each with its 95% Wilson interval, from the figures each audit froze on closing."""
    access = api_project_access(request, slug, "dashboard")
    audits = closed_audits(access.project)
    rows = [entry.as_row() for entry in noise_floor_by(access.project, BREAKDOWN_KEYS[by], audits)]
    return NoiseFloorReportOut(
        by=by,
        limit=access.project.noise_floor_limit,
        audits=len(audits),
        split_left_out=sum(floor.split for audit in audits if (floor := audit.frozen_noise_floor) is not None),
        rows=[PooledFloorOut(**row) for row in rows],
    )
