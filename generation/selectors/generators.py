"""Reads of a project's generators."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db.models import QuerySet

from generation.models import (
    Generator,
)
from synthreview.projects.models import Project


def project_generators(project: Project) -> QuerySet[Generator]:
    return Generator.objects.filter(project=project).order_by("name")


def generator_name(project: Project, generator_id: int) -> str | None:
    """The name of the project's generator with this id; None when the project has none such."""
    return project_generators(project).filter(pk=generator_id).values_list("name", flat=True).first()


def project_generators_page(
    project: Project, *, after_name: str | None = None, size: int = 100
) -> tuple[list[Generator], int | None]:
    """A page of the project's generators by name, read by keyset (`after_name` is the last name
    already read), with the id of the page's last generator when more follow."""
    generators = project_generators(project)
    if after_name is not None:
        generators = generators.filter(name__gt=after_name)
    rows = list(generators[: size + 1])
    last = rows[size - 1].pk if len(rows) > size else None
    return rows[:size], last


@dataclass(frozen=True)
class GeneratorRow:
    generator: Generator
    endpoint_host: str
    key_status: str  # "", "set" or "not set in the environment"


def generator_row(generator: Generator, *, show_key_status: bool) -> GeneratorRow:
    """What the generators page (and the API) show of a generator's endpoint: its host, and, for
    those allowed to know (`show_key_status`), whether its key variable is set on the server."""
    if generator.api_key_env and show_key_status:
        key_status = "set" if os.environ.get(generator.api_key_env) else "not set in the environment"
    else:
        key_status = ""
    return GeneratorRow(
        generator=generator, endpoint_host=urlsplit(generator.endpoint).hostname or "", key_status=key_status
    )
