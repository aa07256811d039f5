"""Audits drawn and reviewed in one call, for the noise-floor and dashboard tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

from reviews.models import Audit, AuditItem
from reviews.services.audits import audit_create, audit_verdict_record
from synthreview.projects.access import project_access

Outcome = Callable[[int, AuditItem], str]


def audit_drawn(
    project, lead, *, scope: str = "project", object_id: int | None = None, size: int, overlap: int = 1, seed: int = 1
) -> Audit:
    return audit_create(
        project_access(lead, project), scope=scope, object_id=object_id, sample_size=size, overlap=overlap, seed=seed
    )


def scored_items(audit: Audit) -> list[AuditItem]:
    return list(AuditItem.objects.filter(audit=audit, is_gold=False).select_related("sample").order_by("position"))


def review_all(audit: Audit, reviewer, outcome: Outcome) -> Audit:
    """The reviewer's verdict on every item, as `outcome(index, item)` says."""
    for index, item in enumerate(scored_items(audit)):
        value = outcome(index, item)
        audit_verdict_record(
            project_access(reviewer, audit.project),
            audit=audit,
            sample_id=item.sample_id,
            value=value,
            error_category="hallucination" if value == "wrong" else "",
        )
    audit.refresh_from_db()
    return audit


def first_wrong(count: int) -> Outcome:
    return lambda index, item: "wrong" if index < count else "correct"


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"))))
