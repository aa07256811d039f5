"""Verdicts through the API: the list, the review queue's verdict and an audit item's verdict.

Writes go through the queue's services (verdict_record, audit_verdict_record), so the revision
check, the audit's overlap and the audit log are the pages' own. An expert lists only their own
verdicts: the pages hide other reviewers' verdicts on every item an open audit holds, and a list
that showed the rest would tell which samples those are by what it leaves out.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from pydantic import field_validator

from generation.models import Sample
from reviews.forms.samples import MAX_TIME_SPENT_MS
from reviews.models import Audit, ErrorCategory, Verdict, VerdictValue
from reviews.selectors.audit_queue import audit_item_for
from reviews.selectors.blinding import HELD_ITEM_REFUSAL, blinding_for
from reviews.selectors.verdicts import verdicts_page
from reviews.services.audits import AuditClosed, AuditItemFull, audit_verdict_record
from reviews.services.verdicts import VerdictConflict, verdict_record
from synthreview.projects.api.auth import api_object, api_project_access
from synthreview.projects.api.errors import COMMON_ERRORS, ApiError, ErrorOut
from synthreview.projects.api.pagination import CursorPage, cursor_decode, cursor_encode
from synthreview.projects.api.params import MAX_ID, Cursor, ObjectId, OptionalIdQuery, PageSize, Slug
from synthreview.projects.params import LARGEST_INTEGER

router = Router(tags=["verdicts"])

# Sample.revision is a PositiveIntegerField: PostgreSQL's integer stops here.
MAX_REVISION = LARGEST_INTEGER


class VerdictOut(Schema):
    id: int
    sample_id: int
    audit_id: int | None = Field(description="The audit the verdict was given in; null for the review queue's.")
    reviewer: str
    verdict: str
    error_category: str
    note: str
    time_spent_ms: int | None
    sample_revision: int | None = Field(
        description="The sample's revision after this queue verdict (send it as `revision` next time); "
        "null for an audit verdict, which never changes the sample."
    )
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def of(verdict: Verdict) -> VerdictOut:
        return VerdictOut(
            id=verdict.pk,
            sample_id=verdict.sample_id,
            audit_id=verdict.audit_id,
            reviewer=verdict.reviewer.get_username(),
            verdict=verdict.value,
            error_category=verdict.error_category,
            note=verdict.note,
            time_spent_ms=verdict.time_spent_ms,
            sample_revision=verdict.sample_revision if verdict.audit_id is None else None,
            created_at=verdict.created_at,
            updated_at=verdict.updated_at,
        )


class VerdictFilters(Schema):
    reviewer: str | None = Field(None, max_length=150, description="A reviewer's username.")
    audit: OptionalIdQuery = None
    sample: OptionalIdQuery = None
    since: datetime | None = Field(None, description="Verdicts given or revised at or after this ISO 8601 time.")


class AuditVerdictIn(Schema):
    sample_id: int = Field(ge=1, le=MAX_ID)
    verdict: VerdictValue
    error_category: str = Field(
        "",
        max_length=16,
        description="Dropped for a correct verdict.",
        json_schema_extra={"enum": ["", *ErrorCategory.values]},
    )
    note: str = Field("", max_length=5000)
    time_spent_ms: int | None = Field(None, ge=0, le=MAX_TIME_SPENT_MS)

    @field_validator("error_category")
    @classmethod
    def known_category(cls, value: str) -> str:
        if value and value not in ErrorCategory.values:
            raise ValueError(f"Unknown error category; one of {', '.join(ErrorCategory.values)}, or empty.")
        return value


class QueueVerdictIn(AuditVerdictIn):
    revision: int = Field(
        ge=0, le=MAX_REVISION, description="The sample's revision when the reviewer read it: a newer one answers 409."
    )


@router.get("/projects/{slug}/verdicts", response={200: CursorPage[VerdictOut], **COMMON_ERRORS})
def verdict_list(
    request: HttpRequest,
    slug: Slug,
    filters: Query[VerdictFilters],
    cursor: Cursor = None,
    limit: PageSize = 100,
) -> CursorPage[VerdictOut]:
    """The project's verdicts, newest first. Experts see their own only; leads and admins see everyone's."""
    access = api_project_access(request, slug, "view")
    # Filter objects are fetched in the caller's project (404 otherwise); refusals come audit, sample, since, cursor.
    audit = api_object(access, Audit, "audit", filters.audit) if filters.audit is not None else None
    sample = api_object(access, Sample, "sample", filters.sample) if filters.sample is not None else None
    since = _moment(filters.since) if filters.since is not None else None
    after = cursor_decode(cursor, shape=(int,))
    page, more = verdicts_page(
        access.project,
        own_only=None if access.can("audit") else caller(request),
        reviewer=filters.reviewer,
        audit=audit,
        sample=sample,
        since=since,
        before=after[0] if after is not None else None,
        size=limit,
    )
    return CursorPage[VerdictOut](
        items=[VerdictOut.of(verdict) for verdict in page],
        next_cursor=cursor_encode([page[-1].pk]) if more else None,
    )


def _moment(since: datetime) -> datetime:
    """`since` in UTC (a time without an offset is the server's); a 422 naming it where that leaves the calendar."""
    try:
        return (timezone.make_aware(since) if timezone.is_naive(since) else since).astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(
            422, "invalid", "That time lies outside the years the server can store.", field="since"
        ) from None


def _conflict_message(conflict: VerdictConflict, *, blinded: bool) -> str:
    """The queue card's conflict notice in words, with the revision to send again."""
    sample = conflict.sample
    parts = [f"Sample {sample.pk} changed while you were looking at it; your verdict was not saved."]
    if not blinded:
        latest, entry = conflict.latest_verdict, conflict.latest_entry
        if conflict.other_action and entry is not None:
            parts.append(f"{conflict.other_action} at {entry.created_at.isoformat()}.")
        elif latest is not None:
            category = f" ({latest.error_category})" if latest.error_category else ""
            note = f': "{latest.note}"' if latest.note else ""
            parts.append(
                f"{latest.reviewer.get_username()} marked it {latest.value}{category} "
                f"at {latest.updated_at.isoformat()}{note}."
            )
        parts.append(f"It is now {sample.status}.")
    parts.append(f"Its revision is now {sample.revision}: send that as `revision` to save your verdict over theirs.")
    return " ".join(parts)


@router.post(
    "/projects/{slug}/verdicts",
    response={200: VerdictOut, 409: ErrorOut, **COMMON_ERRORS},
)
def verdict_create(request: HttpRequest, slug: Slug, payload: QueueVerdictIn) -> VerdictOut:
    """The review queue's verdict on one sample: it sets the sample's status (correct accepts, wrong
    rejects, unsure leaves it pending). A stale `revision` answers 409 "conflict" saying what changed;
    an item of an open audit is refused (422 "refused") to experts, as the queue refuses it."""
    access = api_project_access(request, slug, "review")
    sample = api_object(access, Sample, "sample", payload.sample_id)
    blinding = blinding_for(request.user, access)
    # Refused here too, to name the field; the service refuses it in any case.
    if blinding.hides(sample.pk):
        raise ApiError(422, "refused", HELD_ITEM_REFUSAL, field="sample_id")
    try:
        verdict = verdict_record(
            access,
            sample_id=sample.pk,
            value=payload.verdict.value,
            error_category=payload.error_category,
            note=payload.note,
            seen_revision=payload.revision,
            time_spent_ms=payload.time_spent_ms,
        )
    except VerdictConflict as conflict:
        raise ApiError(
            409, "conflict", _conflict_message(conflict, blinded=blinding.hides(sample.pk)), field="revision"
        ) from None
    except ValidationError as error:
        if HELD_ITEM_REFUSAL in error.messages:
            raise ApiError(422, "refused", HELD_ITEM_REFUSAL, field="sample_id") from None
        raise
    verdict.reviewer = caller(request)
    return VerdictOut.of(verdict)


@router.post(
    "/projects/{slug}/audits/{audit_id}/verdicts",
    response={200: VerdictOut, 409: ErrorOut, **COMMON_ERRORS},
)
def audit_verdict_create(request: HttpRequest, slug: Slug, audit_id: ObjectId, payload: AuditVerdictIn) -> VerdictOut:
    """A verdict on one item of an audit, as the audit queue records it: it never changes the sample.
    The reviewer may revise their own while the audit is open; 409 "conflict" when the audit is
    closed or the item already has the verdicts its overlap asks for."""
    access = api_project_access(request, slug, "review")
    audit = api_object(access, Audit, "audit", audit_id)
    if audit_item_for(audit, payload.sample_id) is None:
        raise ApiError(404, "not_found", "That sample is not part of this audit.", field="sample_id")
    try:
        verdict = audit_verdict_record(
            access,
            audit=audit,
            sample_id=payload.sample_id,
            value=payload.verdict.value,
            error_category=payload.error_category,
            note=payload.note,
            time_spent_ms=payload.time_spent_ms,
        )
    except (AuditClosed, AuditItemFull) as refused:
        raise ApiError(409, "conflict", str(refused)) from None
    verdict.reviewer = caller(request)
    return VerdictOut.of(verdict)


def caller(request: HttpRequest) -> User:
    """The account the call acts as."""
    # After auth the caller is always an account (a token's owner or the signed-in user).
    assert isinstance(request.user, User)
    return request.user
