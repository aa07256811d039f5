"""The project page: it composes generation's figures (samples, runs, imports,
generators) with the similarity overview, so it lives in the upper app."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from generation.selectors.generators import project_generators
from generation.selectors.imports import project_imports
from generation.selectors.runs import project_runs
from reviews.selectors import similarity_overview
from synthreview.projects.access import get_project_for_user
from synthreview.projects.selectors.counters import sample_counts


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    project = access.project
    return render(
        request,
        "reviews/project.html",
        {
            "access": access,
            "project": project,
            "can_import": access.can("import"),
            "counts": sample_counts(project),
            "runs": project_runs(project),
            "imports": project_imports(project) if access.can("import") else [],
            "generators": project_generators(project),
            "similarity": similarity_overview(project),
            "can_rerun": access.can("bulk"),
        },
    )
