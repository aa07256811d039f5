"""The review queue filtered to one audit (`/p/<slug>/queue/?audit=ID`).

Audit items are shown blind: no lineage, checks, status or other reviewers'
verdicts, so each verdict is the reviewer's own and gold items look like the rest.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render

from reviews import selectors
from reviews.access import get_audit_for_user
from reviews.forms.samples import VerdictForm
from reviews.models import Audit, AuditItem
from reviews.selectors import SampleView
from reviews.selectors.audit_queue import (
    audit_item_for,
    audit_item_verdict_of,
    audit_progress,
    audit_queue_next,
    audit_queue_previous,
)
from reviews.services.audits import (
    AuditClosed,
    AuditItemFull,
    audit_verdict_record,
    audit_verdict_undo,
)
from reviews.views.queue_common import CATEGORY_KEYS, queue_url
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import ProjectAccess
from synthreview.projects.forms.errors import form_errors_text
from synthreview.projects.params import non_negative_int_or_none


def _card(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    audit: Audit,
    item: AuditItem | None,
    *,
    status: int = 200,
    saved: str = "",
    problem: str = "",
    form: VerdictForm | None = None,
) -> HttpResponse:
    # The blind card shows the texts and label only, so neighbours, flags and verdicts are never read.
    view = SampleView(sample=item.sample, similarity=None) if item is not None else None
    my_verdict = audit_item_verdict_of(audit, item.sample_id, request.user) if item is not None else None
    audit.refresh_from_db(fields=["status"])
    context = {
        "project": access.project,
        "access": access,
        "order": "audit",
        "orders": selectors.QUEUE_ORDERS,
        "audit": audit,
        "item": item,
        "view": view,
        "cursor": item.position if item else "",
        "saved": saved,
        "problem": problem,
        "form": form,
        "my_verdict": my_verdict,
        "category_keys": CATEGORY_KEYS,
        "progress": audit_progress(audit, request.user),
        "can_bulk": access.can("bulk"),
    }
    template = "reviews/queue.html#card" if request.htmx else "reviews/queue.html"
    response = render(request, template, context, status=status)
    if request.htmx and item is not None:
        response["HX-Push-Url"] = queue_url(access.project.slug, "audit", audit=audit.pk, sample=item.sample_id)
    return response


def audit_queue(request: AuthenticatedHttpRequest, slug: str, audit_id: int) -> HttpResponse:
    access, audit = get_audit_for_user(request.user, slug, audit_id, "review")
    if (wanted := non_negative_int_or_none(request.GET.get("sample"))) is not None:
        item = audit_item_for(audit, wanted)
        if item is None:
            raise Http404("That sample is not part of this audit.")
        return _card(request, access, audit, item)
    if (before := non_negative_int_or_none(request.GET.get("before"))) is not None:
        item = audit_queue_previous(audit, request.user, before_position=before)
        if item is None:
            current = audit_item_for(audit, non_negative_int_or_none(request.GET.get("current")) or 0)
            return _card(request, access, audit, current, problem="This is the first item open to you in this audit.")
        return _card(request, access, audit, item)
    after = non_negative_int_or_none(request.GET.get("after"))
    item = audit_queue_next(audit, request.user, after_position=after)
    return _card(request, access, audit, item)


def audit_verdict_save(request: AuthenticatedHttpRequest, slug: str, pk: int, audit_id: int) -> HttpResponse:
    access, audit = get_audit_for_user(request.user, slug, audit_id, "review")
    item = audit_item_for(audit, pk)
    if item is None:
        raise Http404("That sample is not part of this audit.")
    form = VerdictForm(request.POST)
    if not form.is_valid():
        return _card(
            request,
            access,
            audit,
            item,
            status=400,
            form=form,
            problem=f"The verdict was not saved: {form_errors_text(form)}",
        )
    data = form.cleaned_data
    try:
        verdict = audit_verdict_record(
            access,
            audit=audit,
            sample_id=pk,
            value=data["value"],
            error_category=data["error_category"] or "",
            note=data["note"] or "",
            time_spent_ms=data.get("time_spent_ms"),
        )
    except (AuditClosed, AuditItemFull) as refused:
        following = audit_queue_next(audit, request.user, after_position=item.position)
        return _card(request, access, audit, following, status=409, problem=str(refused))
    except ValidationError as error:
        return _card(request, access, audit, item, status=400, problem=" ".join(error.messages))
    if not request.htmx:
        return redirect(queue_url(slug, "audit", audit=audit.pk, after=item.position))
    following = audit_queue_next(audit, request.user, after_position=item.position)
    return _card(
        request, access, audit, following, saved=f"Saved {verdict.get_value_display().lower()} on item {item.position}."
    )


def audit_verdict_undo_last(request: AuthenticatedHttpRequest, slug: str, audit_id: int) -> HttpResponse:
    access, audit = get_audit_for_user(request.user, slug, audit_id, "review")
    try:
        sample_id = audit_verdict_undo(access, audit=audit)
    except AuditClosed as refused:
        return _card(request, access, audit, None, status=409, problem=str(refused))
    if sample_id is None:
        return _card(
            request,
            access,
            audit,
            audit_queue_next(audit, request.user),
            problem="You have no verdict to undo in this audit.",
        )
    if not request.htmx:
        return redirect(queue_url(slug, "audit", audit=audit.pk, sample=sample_id))
    return _card(
        request, access, audit, audit_item_for(audit, sample_id), saved="Undid your last verdict in this audit."
    )
