from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from reviews import selectors
from reviews.services import similarity_refit, similarity_refresh
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import get_project_for_user


@login_required
def similarity_status(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    if not request.htmx:
        return redirect("project_detail", slug=slug)
    overview = selectors.similarity_overview(access.project)
    response = render(
        request,
        "reviews/_similarity_status.html",
        {"project": access.project, "access": access, "similarity": overview, "can_rerun": access.can("bulk")},
    )
    return HttpResponseStopPolling(response.content) if not overview.busy else response


@login_required
@require_POST
def similarity_rerun(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "bulk")
    similarity_refresh(project_id=access.project.pk, requested_by=request.user)
    if request.htmx:
        overview = selectors.similarity_overview(access.project)
        return render(
            request,
            "reviews/_similarity_status.html",
            {"project": access.project, "access": access, "similarity": overview, "can_rerun": True},
        )
    return redirect("project_detail", slug=slug)


@login_required
@require_POST
def similarity_refit_view(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """A lead fits the clusters again now, instead of waiting for the share of new samples."""
    access = get_project_for_user(request.user, slug, "bulk")
    similarity_refit(access)
    if request.htmx:
        overview = selectors.similarity_overview(access.project)
        return render(
            request,
            "reviews/_similarity_status.html",
            {"project": access.project, "access": access, "similarity": overview, "can_rerun": True},
        )
    messages.success(request, "A full refit of the clusters is queued; its progress shows above.")
    return redirect(f"{reverse('similarity_view', args=[slug])}?tab=clusters")
