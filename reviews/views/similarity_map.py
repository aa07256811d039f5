"""One map point's text, fetched when the point is hovered: the map page itself carries none."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from generation.access import get_sample_with_access
from reviews import selectors
from reviews.selectors.blinding import blinding_for
from synthreview.http import AuthenticatedHttpRequest


@login_required
@require_GET
def map_point(request: AuthenticatedHttpRequest, slug: str, pk: int) -> HttpResponse:
    access, sample = get_sample_with_access(request.user, slug, pk, "view")
    if not request.htmx:
        return redirect("sample_detail", slug=slug, pk=pk)
    point = selectors.map_point(sample, blinding=blinding_for(request.user, access))
    response = render(request, "reviews/similarity.html#map-point", {"project": access.project, "point": point})
    # A point's text changes rarely; hovering back and forth must not ask each time.
    response["Cache-Control"] = "private, max-age=60"
    return response
