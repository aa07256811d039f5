"""The project's generators: everyone may read them; admins create and edit them.

API keys never reach a page: a generator names the environment variable that
holds its key, and the page says only whether that variable is set.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from generation.access import get_generator_for_user
from generation.forms.generators import GeneratorForm
from generation.models import Generator
from generation.selectors.generators import generator_row, project_generators
from generation.services.generators import generator_create, generator_update
from synthreview.projects.access import ProjectAccess, get_project_for_user


@login_required
def generator_list(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    # Whether a key variable is set is the server's business: admins see it, others only its name.
    rows = [
        generator_row(generator, show_key_status=access.can("generators"))
        for generator in project_generators(access.project)
    ]
    return render(
        request,
        "generation/generators.html",
        {
            "access": access,
            "project": access.project,
            "rows": rows,
            "can_edit": access.can("generators"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def generator_new(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "generators")
    form = GeneratorForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            generator = generator_create(access, **form.values())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Generator {generator.name} created.")
            return redirect("generator_list", slug=slug)
    return _form_page(request, access, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def generator_edit(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    access, generator = get_generator_for_user(request.user, slug, pk, "generators")
    form = GeneratorForm(request.POST if request.method == "POST" else None, generator=generator)
    if request.method == "POST" and form.is_valid():
        try:
            generator = generator_update(access, generator=generator, **form.values())
        except ValidationError as error:
            _add_errors(form, error)
        else:
            messages.success(request, f"Generator {generator.name} saved.")
            return redirect("generator_list", slug=slug)
    return _form_page(request, access, form, generator)


def _form_page(
    request: HttpRequest, access: ProjectAccess, form: GeneratorForm, generator: Generator | None
) -> HttpResponse:
    context = {"access": access, "project": access.project, "form": form, "generator": generator}
    return render(request, "generation/generator_form.html", context, status=400 if form.errors else 200)


def _add_errors(form: GeneratorForm, error: ValidationError) -> None:
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, problems in error.message_dict.items():
        form.add_error(field if field in form.fields and not form.fields[field].disabled else None, problems)
