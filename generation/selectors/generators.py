"""Reads of a project's generators."""

from __future__ import annotations

from django.db.models import QuerySet

from generation.models import (
    Generator,
)
from synthreview.projects.models import Project


def project_generators(project: Project) -> QuerySet[Generator]:
    return Generator.objects.filter(project=project).order_by("name")
