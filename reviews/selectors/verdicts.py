"""Reads of a project's verdicts for the API's verdict list."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User

from generation.models import Sample
from reviews.models import Audit, Verdict
from synthreview.projects.models import Project


def verdicts_page(
    project: Project,
    *,
    own_only: User | None = None,
    reviewer: str | None = None,
    audit: Audit | None = None,
    sample: Sample | None = None,
    since: datetime | None = None,
    before: int | None = None,
    size: int = 100,
) -> tuple[list[Verdict], bool]:
    """A page of the project's verdicts, newest first by id, read by keyset (`before` is a verdict's id),
    and whether more follow. `own_only` keeps that reviewer's verdicts only; `reviewer` is a username;
    `since` an aware time the verdict was given or revised at or after."""
    verdicts = Verdict.objects.filter(sample__project=project).select_related("reviewer")
    if own_only is not None:
        verdicts = verdicts.filter(reviewer=own_only)
    if reviewer:
        verdicts = verdicts.filter(reviewer__username=reviewer)
    if audit is not None:
        verdicts = verdicts.filter(audit=audit)
    if sample is not None:
        verdicts = verdicts.filter(sample=sample)
    if since is not None:
        verdicts = verdicts.filter(updated_at__gte=since)
    if before is not None:
        verdicts = verdicts.filter(pk__lt=before)
    page = list(verdicts.order_by("-pk")[: size + 1])
    return page[:size], len(page) > size
