"""Helpers shared by the export and eval-set tests: ask for an export and run it
in the test process, a run with a closed audit, and readers for what an export
wrote."""

from __future__ import annotations

import json
import math
from pathlib import Path

from django.contrib.auth.models import User

from generation.models import GenerationRun, Generator, Sample
from reviews.models import Audit, Export
from reviews.services.exports import export_request, export_run
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import Project, Role
from tests.reviews.audit_helpers import audit_drawn, first_wrong, review_all
from tests.reviews.review_helpers import add_samples, generator, run, template_version

# The columns a training job reads, written out here rather than imported from the writer.
EXPORT_COLUMNS = [
    "id",
    "input",
    "output",
    "label",
    "origin",
    "synthetic",
    "generator",
    "generator_model",
    "template",
    "template_version",
    "run",
    "generation_depth",
    "split",
    "content_hash",
    "metadata",
]


def lead_access(project: Project, lead: User) -> ProjectAccess:
    """A lead's access, recording `lead` as who acted."""
    return ProjectAccess(project, Role.LEAD, user=lead)


def exported(project: Project, actor, *, format: str = "jsonl", **options) -> Export:
    """Ask for an export as a lead would, then run it here as the worker would."""
    export = export_request(lead_access(project, actor), format=format, enqueue=False, **options)
    return export_run(export_id=export.pk)


def decision(export: Export, gate: str) -> dict:
    return next(d for d in export.manifest["decisions"] if d["gate"] == gate)


def refusal_reasons(export: Export) -> dict[str, str]:
    return {r["gate"]: r["reason"] for r in export.refusals}


def synthetic_run(
    project: Project, name: str, count: int, *, gen: Generator | None = None, status: str = "accepted", **fields
) -> tuple[GenerationRun, list[Sample]]:
    gen = gen or generator(project)
    version = fields.pop("template_version", None) or template_version(project)
    made = run(project, name, version, gen)
    return made, add_samples(project, count, gen=gen, run=made, template_version=version, status=status, **fields)


def closed_run_audit(
    project: Project, lead, reviewer, generation_run: GenerationRun, *, size: int = 50, wrong: int = 0
) -> Audit:
    """An audit of the run drawn and reviewed through the services; the last verdict closes it."""
    audit = audit_drawn(project, lead, scope="run", object_id=generation_run.pk, size=size)
    audit = review_all(audit, reviewer, first_wrong(wrong))
    assert audit.status == "closed", "the audit should close itself once every item has its verdict"
    return audit


def wilson_upper(wrong: int, n: int, z: float = 1.959963984540054) -> float:
    """Upper bound of the 95% Wilson score interval (Wilson 1927), worked here from the formula."""
    p = wrong / n
    return (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def jsonl_rows(path: str | Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]
