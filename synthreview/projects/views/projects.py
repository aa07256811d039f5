"""The ground floor's own pages: the projects a user can open, and a new project for site operators."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from synthreview.projects.access import projects_for_user, signed_in_account
from synthreview.projects.forms.errors import form_add_service_errors
from synthreview.projects.forms.projects import ProjectCreateForm
from synthreview.projects.services.projects import project_create


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "projects/home.html", {"accesses": projects_for_user(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    account = signed_in_account(request.user)
    # Projects are made by the site's operators; each then hands out its own roles.
    if account is None or not account.is_superuser:
        raise PermissionDenied("Only the site's administrators create projects.")
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(**form.cleaned_data, actor=account, first_admin=account)
        except ValidationError as error:
            form_add_service_errors(form, error)
        else:
            messages.success(request, f"Project {project.name} created; you are its admin. Add its members next.")
            return redirect("member_list", slug=project.slug)
    return render(request, "projects/project_new.html", {"form": form}, status=400 if form.errors else 200)
