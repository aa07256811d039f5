"""What every bench shares: a database of its own on the local PostgreSQL."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
REPO_ROOT = Path(__file__).resolve().parent.parent
# The real data beside the checkout (never copied into the project).
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def unique_database_name(prefix: str) -> str:
    """prefix plus a suffix for this run, so that two runs on one machine never drop each other's database.

    The suffix is kept in the environment, so a child process started by the bench names the same database."""
    suffix = os.environ.setdefault("SYNTHREVIEW_BENCH_RUN", f"{os.getpid()}_{secrets.token_hex(3)}")
    return f"{prefix}_{suffix}"


def database_recreate(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")


def database_drop(name: str) -> None:
    import psycopg
    from django.apps import apps

    if apps.ready:
        from django.db import connections

        connections.close_all()
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def status_kib(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process, in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def lineage_create(project, generator_names, template_versions, *, created_by=None):
    """Imported generators, template versions [(name, number)] and one completed run per version,
    each run over every generator: the lineage a bench's samples point at."""
    from generation.models import (
        GenerationRun,
        Generator,
        GeneratorKind,
        PromptTemplate,
        PromptTemplateVersion,
        RunStatus,
    )

    generators = [
        Generator.objects.create(project=project, name=name, kind=GeneratorKind.IMPORTED, model_name=name)
        for name in generator_names
    ]
    versions = []
    for name, number in template_versions:
        template, _ = PromptTemplate.objects.get_or_create(project=project, name=name)
        versions.append(
            PromptTemplateVersion.objects.create(
                template=template, version=number, text=f"{{instruction}} ({name} v{number})"
            )
        )
    runs = []
    for number, version in enumerate(versions, start=1):
        run = GenerationRun.objects.create(
            project=project,
            name=f"run-{number}",
            template_version=version,
            status=RunStatus.COMPLETED,
            created_by=created_by,
        )
        run.generators.set(generators)
        runs.append(run)
    return generators, versions, runs
