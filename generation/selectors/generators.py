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
