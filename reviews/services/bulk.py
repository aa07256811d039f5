"""Changing the status of many samples at once: one audit-log entry per action."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from generation.models import Sample, SampleStatus
from reviews.services.membership import membership_confirmed
from synthreview.projects.access import ProjectAccess
from synthreview.projects.services import audit_log_record
from synthreview.projects.services.counters import sample_count_add

# Rows per UPDATE: big enough to be quick, small enough to keep each statement's locks short.
CHUNK = 5000


class BulkCountChanged(Exception):
    """The selection no longer matches what the user confirmed."""

    def __init__(self, expected: int, found: int) -> None:
        super().__init__(
            f"The filter now matches {found:,} samples, not the {expected:,} you confirmed. "
            "Check the new count and confirm again."
        )
        self.expected = expected
        self.found = found


@dataclass(frozen=True)
class BulkResult:
    matched: int
    changed: int
    log_id: int


def samples_status_set(*, project_id: int, sample_ids: list[int], status: str) -> list[int]:
    """Set the status of these samples (call inside a transaction); bumps each
    changed sample's revision so a reviewer holding an older copy is told, and
    keeps the counters in step. Returns the ids that changed."""
    changed: list[int] = []
    moves: Counter[tuple[str, str]] = Counter()
    now = timezone.now()
    for start in range(0, len(sample_ids), CHUNK):
        chunk = sample_ids[start : start + CHUNK]
        rows = list(
            Sample.objects.select_for_update()
            .filter(project_id=project_id, pk__in=chunk)
            .exclude(status=status)
            .values_list("id", "origin", "status")
        )
        if not rows:
            continue
        ids = [pk for pk, _, _ in rows]
        Sample.objects.filter(pk__in=ids).update(status=status, revision=F("revision") + 1, updated_at=now)
        changed.extend(ids)
        moves.update((origin, old) for _, origin, old in rows)
    for (origin, old), n in moves.items():
        sample_count_add(project_id=project_id, origin=origin, status=old, delta=-n)
        sample_count_add(project_id=project_id, origin=origin, status=status, delta=n)
    return changed


def samples_bulk_set_status(
    access: ProjectAccess,
    *,
    queryset: QuerySet[Sample],
    status: str,
    expected_count: int,
    description: dict,
    page_size: int,
    members: str | None = None,
    noun: str = "selection",
) -> BulkResult:
    """Accept or reject every sample the filter matches, as the user confirmed it.

    Experts may act on up to a page; more needs a lead. If the filter's matches
    changed since the confirmation (their count, or with `members` the ids
    themselves: the token the confirmation page showed), nothing is written.
    """
    if status not in (SampleStatus.ACCEPTED, SampleStatus.REJECTED):
        raise ValueError(f"Bulk actions accept or reject, not {status!r}.")
    with transaction.atomic():
        ids = list(queryset.order_by("id").values_list("id", flat=True))
        if members is not None:
            # The ids written below are these very ids, read once in this transaction.
            membership_confirmed(noun=noun, member_ids=ids, confirmed=members)
        if len(ids) != expected_count:
            raise BulkCountChanged(expected_count, len(ids))
        if len(ids) > page_size and not access.can("bulk"):
            raise PermissionDenied(f"Only leads and admins may act on more than {page_size} samples at once.")
        changed = samples_status_set(project_id=access.project.pk, sample_ids=ids, status=status)
        entry = audit_log_record(
            project=access.project,
            actor=access.actor,
            action=f"samples.bulk_{'accept' if status == 'accepted' else 'reject'}",
            object_type="bulk",
            object_id="",
            details={
                "filter": description,
                "matched": len(ids),
                "changed": len(changed),
                "status": status,
                "sample_ids": changed,
            },
            samples=changed,
        )
    return BulkResult(matched=len(ids), changed=len(changed), log_id=entry.pk)
