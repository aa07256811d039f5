"""The review queue: one sample at a time, verdicts by keyboard, next sample without a page load."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from generation.access import get_sample_with_access
from generation.models import Sample
from reviews import selectors
from reviews.forms.samples import VerdictForm
from reviews.selectors import QUEUE_ORDERS, QueueCursor
from reviews.selectors.audit_queue import audits_open_for_review
from reviews.selectors.blinding import blinding_for
from reviews.selectors.queue import queue_empty_reason, queue_sample_of
from reviews.services import UndoRefused, VerdictConflict, verdict_record, verdict_undo
from reviews.services.queue_claims import queue_claim, queue_claims_release
from reviews.views.audit_queue import audit_queue, audit_verdict_save, audit_verdict_undo_last
from reviews.views.queue_common import CATEGORY_KEYS, queue_url
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import ProjectAccess, get_project_for_user
from synthreview.projects.forms.errors import form_errors_text
from synthreview.projects.params import non_negative_int_or_none

# Another reviewer's queue may claim the sample found in the instant between the search and the claim:
# the search goes on past it this many times, then shows it anyway (the verdict's revision check holds).
CLAIM_TRIES = 3


def _order(request: HttpRequest) -> str:
    order = request.GET.get("order") or request.POST.get("order") or "oldest"
    return order if order in QUEUE_ORDERS else "oldest"


def _card(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    order: str,
    sample: Sample | None,
    *,
    status: int = 200,
    conflict: VerdictConflict | None = None,
    saved: str = "",
    problem: str = "",
    form: VerdictForm | None = None,
) -> HttpResponse:
    # A held audit item shows blind here too: no lineage, signals or others' verdicts.
    blinding = blinding_for(request.user, access)
    view = selectors.sample_view(sample, blinding=blinding) if sample is not None else None
    # A held item's place in "flagged first" or "lowest novelty" is what the audit hides: its card links
    # to the start of the queue instead.
    cursor = (
        selectors.queue_cursor_of(view.sample, order, flagged=bool(view.flags), novelty=view.novelty, scored=True)
        if view is not None and not blinding.hides(view.sample.pk)
        else None
    )
    my_verdict = (
        next((v for v in view.verdicts if v.reviewer_id == request.user.pk and v.audit_id is None), None)
        if view
        else None
    )
    context = {
        "project": access.project,
        "access": access,
        "order": order,
        "orders": QUEUE_ORDERS,
        "view": view,
        "cursor": cursor,
        "conflict": conflict,
        "saved": saved,
        "problem": problem,
        "form": form,
        "my_verdict": my_verdict,
        "category_keys": CATEGORY_KEYS,
        "pending": selectors.queue_pending_estimate(access.project),
        # A swapped card brings the count along out of band, so it drops with each verdict.
        "pending_oob": bool(request.htmx),
        # Why the queue is empty decides the next step the card offers; asked only when it is.
        "empty_reason": queue_empty_reason(access.project) if view is None else "",
        "can_bulk": access.can("bulk"),
        # Only the full page shows them: a swapped card never re-reads the list.
        "open_audits": [] if request.htmx else list(audits_open_for_review(access.project)[:5]),
    }
    template = "reviews/queue.html#card" if request.htmx else "reviews/queue.html"
    response = render(request, template, context, status=status)
    if request.htmx and sample is not None:
        # The address bar follows the card, so a reload shows the same sample.
        response["HX-Push-Url"] = queue_url(access.project.slug, order, sample=sample.pk)
    return response


@login_required
@require_GET
def review_queue(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    if (audit_id := non_negative_int_or_none(request.GET.get("audit"))) is not None:
        return audit_queue(request, slug, audit_id)
    access = get_project_for_user(request.user, slug, "review")
    order = _order(request)
    sample = None
    if (wanted := non_negative_int_or_none(request.GET.get("sample"))) is not None:
        sample = get_sample_with_access(request.user, slug, wanted, "review")[1]
    elif before := QueueCursor.parse(request.GET.get("before")):
        sample = selectors.queue_previous(
            project=access.project,
            reviewer=request.user,
            order=order,
            before=before,
            blinding=blinding_for(request.user, access),
        )
        if sample is None:
            return _card(
                request,
                access,
                order,
                _sample_at(access, request.GET.get("current")),
                problem="This is the first sample in the queue.",
            )
    else:
        sample = _claimed_next(request, access, order, after=QueueCursor.parse(request.GET.get("after")))
        return _card(request, access, order, sample)
    if sample is not None:
        # Asked for by id or by going back: shown whoever holds it, and held for this reviewer if free.
        queue_claim(project=access.project, reviewer=request.user, sample_id=sample.pk)
    return _card(request, access, order, sample)


def _claimed_next(
    request: AuthenticatedHttpRequest, access: ProjectAccess, order: str, *, after: QueueCursor | None
) -> Sample | None:
    """The next sample for this reviewer that no other reviewer's card holds, claimed for them."""
    sample = None
    for _ in range(CLAIM_TRIES):
        sample = selectors.queue_next(
            project=access.project,
            reviewer=request.user,
            order=order,
            after=after,
            blinding=blinding_for(request.user, access),
        )
        if sample is None:
            queue_claims_release(project=access.project, reviewer=request.user)
            return None
        if queue_claim(project=access.project, reviewer=request.user, sample_id=sample.pk):
            return sample
        after = selectors.queue_cursor_of(sample, order)
    return sample


def _sample_at(access: ProjectAccess, raw: str | None) -> Sample | None:
    if (pk := non_negative_int_or_none(raw)) is not None:
        return queue_sample_of(access.project, pk)
    return None


@login_required
@require_POST
def verdict_save(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    if (audit_id := non_negative_int_or_none(request.POST.get("audit"))) is not None:
        return audit_verdict_save(request, slug, pk, audit_id)
    access, sample = get_sample_with_access(request.user, slug, pk, "review")
    order = _order(request)
    form = VerdictForm(request.POST)
    if not form.is_valid():
        return _card(
            request,
            access,
            order,
            sample,
            status=400,
            form=form,
            problem=f"The verdict was not saved: {form_errors_text(form)}",
        )
    data = form.cleaned_data
    try:
        verdict = verdict_record(
            access,
            sample_id=sample.pk,
            value=data["value"],
            error_category=data["error_category"] or "",
            note=data["note"] or "",
            seen_revision=data["revision"],
            time_spent_ms=data.get("time_spent_ms"),
        )
    except VerdictConflict as conflict:
        return _card(request, access, order, conflict.sample, status=409, conflict=conflict)
    except ValidationError as error:
        return _card(request, access, order, sample, status=400, problem=" ".join(error.messages))
    after = selectors.queue_cursor_of(sample, order)
    if not request.htmx:
        return redirect(queue_url(slug, order, after=str(after)))
    following = _claimed_next(request, access, order, after=after)
    label = verdict.get_value_display().lower()
    if verdict.error_category:
        label += f" ({verdict.get_error_category_display().lower()})"
    return _card(request, access, order, following, saved=f"Saved {label} on sample {sample.pk}.")


@login_required
@require_POST
def verdict_undo_last(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    if (audit_id := non_negative_int_or_none(request.POST.get("audit"))) is not None:
        return audit_verdict_undo_last(request, slug, audit_id)
    access = get_project_for_user(request.user, slug, "review")
    order = _order(request)
    try:
        sample = verdict_undo(access)
    except UndoRefused as refused:
        return _card(
            request, access, order, _sample_at(access, request.POST.get("current")), status=409, problem=str(refused)
        )
    if sample is None:
        return _card(
            request,
            access,
            order,
            _sample_at(access, request.POST.get("current")),
            problem="You have no verdict to undo in this project.",
        )
    if not request.htmx:
        return redirect(queue_url(slug, order, sample=sample.pk))
    return _card(request, access, order, sample, saved=f"Undid your last verdict: sample {sample.pk} is back.")
