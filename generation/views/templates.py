"""Prompt templates: every version of every template, and a lead's form for the next version."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from generation.checks import REGISTRY, default_checks_for
from generation.forms.templates import TemplateVersionForm, format_defaults
from generation.models import PromptTemplateVersion
from generation.prompts import RESERVED_VARIABLES
from generation.selectors.templates import project_templates, template_latest_version, template_names
from generation.services.templates import template_version_create
from synthreview.projects.access import get_project_for_user


@dataclass(frozen=True)
class VersionRow:
    version: PromptTemplateVersion
    check_labels: list[str]
    checks_are_defaults: bool
    reserved: list[str]
    schema_json: str


def _row(version: PromptTemplateVersion) -> VersionRow:
    named = [name for name in version.checks if name in REGISTRY]
    names = named or default_checks_for(version.output_format)
    return VersionRow(
        version=version,
        check_labels=[REGISTRY[name].label for name in names],
        checks_are_defaults=not named,
        reserved=[name for name in version.variables if name in RESERVED_VARIABLES],
        schema_json=json.dumps(version.output_schema, indent=2) if version.output_schema else "",
    )


@login_required
def template_list(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "view")
    templates = [
        (template, [_row(version) for version in template.versions.all()])
        for template in project_templates(access.project)
    ]
    return render(
        request,
        "generation/templates.html",
        {
            "access": access,
            "project": access.project,
            "templates": templates,
            "reserved_variables": RESERVED_VARIABLES,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def template_version_new(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, "templates")
    project = access.project
    initial: dict = {}
    if request.method == "GET" and request.GET.get("template"):
        latest = template_latest_version(project, request.GET["template"])
        initial = TemplateVersionForm.initial_from(latest) if latest else {"template_name": request.GET["template"]}
    form = TemplateVersionForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        version = template_version_create(
            access,
            template_name=data["template_name"],
            text=data["text"],
            variables=data["variables"],
            output_format=data["output_format"],
            output_schema=data["output_schema"],
            code_language=data["code_language"],
            checks=data["checks"],
        )
        messages.success(request, f"Saved {version.template.name} version {version.version}.")
        return redirect(f"{reverse('template_list', args=[slug])}#template-{version.template.pk}")
    return render(
        request,
        "generation/template_form.html",
        {
            "access": access,
            "project": project,
            "form": form,
            "existing_names": template_names(project),
            "format_defaults": format_defaults(),
            "reserved_variables": RESERVED_VARIABLES,
        },
    )
