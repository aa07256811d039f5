"""Semantic search: the page records the question; a worker answers it, and the page polls."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseStopPolling

from generation.access import get_sample_with_access
from reviews import selectors
from reviews.forms.samples import SampleFilterForm
from reviews.forms.search import SearchForm
from reviews.selectors.blinding import blinding_for
from reviews.services.similarity_search import similarity_search_create
from synthreview.http import AuthenticatedHttpRequest
from synthreview.projects.access import ProjectAccess, get_project_for_user
from synthreview.projects.params import non_negative_int_or_none


def _results(request: AuthenticatedHttpRequest, access: ProjectAccess, search_id: int) -> dict:
    search = selectors.search_for_user(access.project, request.user, search_id)
    return {"found": selectors.search_view(search, blinding=blinding_for(request.user, access))}


@login_required
@require_http_methods(["GET", "POST"])
def similarity_search(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    project = access.project
    context: dict = {"project": project, "access": access}
    status = 200
    if request.method == "POST":
        form = SearchForm(request.POST)
        filters = SampleFilterForm(request.POST, project=project)
        if form.is_valid() and filters.is_valid():
            anchor_id = form.cleaned_data.get("anchor")
            if anchor_id is not None:
                anchor_id = get_sample_with_access(request.user, slug, anchor_id, "view")[1].pk
            try:
                search = similarity_search_create(
                    access,
                    query=form.cleaned_data.get("query") or "",
                    anchor_id=anchor_id,
                    k=form.cleaned_data["k"],
                    filters=filters.filters(),
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                if not request.htmx:
                    return redirect(f"{reverse('similarity_search', args=[slug])}?search={search.pk}")
                return render(
                    request,
                    "reviews/similarity_search.html#results",
                    {**context, **_results(request, access, search.pk)},
                )
        status = 400
        if request.htmx:
            return render(
                request,
                "reviews/similarity_search.html#results",
                {**context, "form": form, "filters": filters},
                status=status,
            )
    else:
        search_id = non_negative_int_or_none(request.GET.get("search"))
        if search_id is not None:
            found = _results(request, access, search_id)
            context.update(found)
            search = found["found"].search
            form = SearchForm(initial={"query": search.query, "anchor": search.anchor_id, "k": search.k})
            filters = SampleFilterForm(initial=search.filters, project=project)
        else:
            form, filters = SearchForm(), SampleFilterForm(project=project)
    context.update(form=form, filters=filters)
    return render(request, "reviews/similarity_search.html", context, status=status)


@login_required
@require_GET
def similarity_search_results(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    if not request.htmx:
        return redirect(f"{reverse('similarity_search', args=[slug])}?search={pk}")
    context = {"project": access.project, "access": access, **_results(request, access, pk)}
    response = render(request, "reviews/similarity_search.html#results", context)
    return HttpResponseStopPolling(response.content) if context["found"].done else response
