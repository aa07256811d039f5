"""The review queue filtered to one audit: its items in their drawn order,
those this reviewer has not judged and that still need a verdict."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from reviews.models import Audit, AuditItem, AuditStatus, Verdict
from synthreview.projects.models import Project


def audits_open_for_review(project: Project) -> QuerySet[Audit]:
    return Audit.objects.filter(project=project, status=AuditStatus.OPEN).order_by("created_at", "id")


def _open_items(audit: Audit, reviewer: User) -> QuerySet[AuditItem]:
    mine = Verdict.objects.filter(audit=audit, sample=OuterRef("sample"), reviewer=reviewer)
    return (
        AuditItem.objects.filter(audit=audit)
        .annotate(given=Count("sample__verdicts", filter=Q(sample__verdicts__audit=audit)))
        .filter(~Exists(mine), given__lt=audit.overlap)
    )


def audit_queue_next(audit: Audit, reviewer: User, *, after_position: int | None = None) -> AuditItem | None:
    """The next item for this reviewer after `after_position`; past the end, back to the start."""
    if audit.status == AuditStatus.CLOSED:
        return None
    items = _open_items(audit, reviewer).order_by("position")
    if after_position is not None:
        found = items.filter(position__gt=after_position).first()
        if found is not None:
            return found
    return items.first()


def audit_queue_previous(audit: Audit, reviewer: User, *, before_position: int) -> AuditItem | None:
    """The item before, open to this reviewer or already judged by them (to revise their verdict)."""
    # One query with OR, not a UNION: SQLite refuses the ORDER BY that the model's
    # default ordering puts inside each part of a compound statement.
    mine = Verdict.objects.filter(audit=audit, sample=OuterRef("sample"), reviewer=reviewer)
    return (
        AuditItem.objects.filter(audit=audit, position__lt=before_position)
        .annotate(judged_by_me=Exists(mine), given=Count("sample__verdicts", filter=Q(sample__verdicts__audit=audit)))
        .filter(Q(judged_by_me=True) | Q(given__lt=audit.overlap))
        .order_by("-position")
        .first()
    )


def audit_item_for(audit: Audit, sample_id: int) -> AuditItem | None:
    return AuditItem.objects.filter(audit=audit, sample_id=sample_id).first()


def audit_item_verdict_of(audit: Audit, sample_id: int, reviewer: User) -> Verdict | None:
    """This reviewer's verdict on one audit item, if they gave one."""
    return Verdict.objects.filter(audit=audit, sample_id=sample_id, reviewer=reviewer).first()


@dataclass(frozen=True)
class AuditProgress:
    items: int
    mine: int
    given: int
    needed: int

    @property
    def share(self) -> float:
        return self.given / self.needed if self.needed else 0.0


def audit_progress(audit: Audit, reviewer: User) -> AuditProgress:
    items = AuditItem.objects.filter(audit=audit).count()
    verdicts = Verdict.objects.filter(audit=audit)
    per_item = verdicts.values("sample_id").annotate(n=Count("id")).values_list("n", flat=True)
    return AuditProgress(
        items=items,
        mine=verdicts.filter(reviewer=reviewer).count(),
        given=sum(min(n, audit.overlap) for n in per_item),
        needed=items * audit.overlap,
    )


def audits_progress(audits: list[Audit]) -> dict[int, AuditProgress]:
    """Progress of many audits in two grouped queries, for the audit list."""
    ids = [audit.pk for audit in audits]
    items = dict(
        AuditItem.objects.filter(audit_id__in=ids)
        .values("audit_id")
        .annotate(n=Count("id"))
        .values_list("audit_id", "n")
    )
    overlap = {audit.pk: audit.overlap for audit in audits}
    given: dict[int, int] = {}
    per_item = (
        Verdict.objects.filter(audit_id__in=ids)
        .values("audit_id", "sample_id")
        .annotate(n=Count("id"))
        .values_list("audit_id", "n")
    )
    for audit_id, count in per_item:
        given[audit_id] = given.get(audit_id, 0) + min(count, overlap[audit_id])
    return {
        audit.pk: AuditProgress(
            items=items.get(audit.pk, 0),
            mine=0,
            given=given.get(audit.pk, 0),
            needed=items.get(audit.pk, 0) * audit.overlap,
        )
        for audit in audits
    }
