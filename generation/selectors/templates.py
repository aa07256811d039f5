"""Reads of a project's prompt templates and their versions."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from generation.models import (
    PromptTemplate,
    PromptTemplateVersion,
)
from synthreview.projects.models import Project


def project_templates(project: Project) -> QuerySet[PromptTemplate]:
    """The project's templates by name, each with its versions newest first (two queries in all)."""
    versions = PromptTemplateVersion.objects.select_related("created_by").order_by("-version")
    return (
        PromptTemplate.objects.filter(project=project)
        .prefetch_related(Prefetch("versions", queryset=versions))
        .order_by("name")
    )


def template_names(project: Project) -> QuerySet[PromptTemplate, str]:
    """The names the project's templates already use, offered as the form's suggestions."""
    return PromptTemplate.objects.filter(project=project).values_list("name", flat=True)


def template_latest_version(project: Project, name: str) -> PromptTemplateVersion | None:
    return (
        PromptTemplateVersion.objects.select_related("template")
        .filter(template__project=project, template__name=name)
        .order_by("-version")
        .first()
    )
