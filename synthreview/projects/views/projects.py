"""The ground floor's own pages: the projects a user can open."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from synthreview.projects.access import projects_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "projects/home.html", {"accesses": projects_for_user(request.user)})
