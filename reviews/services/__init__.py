"""Writes of the reviews app, split by feature.

A service that acts for someone takes `access: ProjectAccess` first, then keyword-only arguments:
the project is `access.project`, and who acted is `access.actor` (the signed-in member, or the
`SystemActor` of `ProjectAccess.for_system` for a management command, the demo or a bench script,
which the audit log names in `details["system_actor"]`); `access.user` is the member where a row
needs a person. The view has already checked `access.can(need)`.
Two kinds take no access: services a worker runs with no one behind it (embedding, builds,
snapshots, the export's file) take ids (`project_id=`, `export_id=`) and load the rows themselves,
and their log rows name the worker as a `SystemActor` (`task:export`) where no member asked; pure
helpers take plain values.
"""

from __future__ import annotations

from reviews.models import SimilarityJobKind
from reviews.services.bulk import (
    BulkCountChanged,
    BulkResult,
    samples_bulk_set_status,
    samples_status_set,
)
from reviews.services.groups import (
    DecisionConflict,
    MembershipChanged,
    cluster_set_status,
    duplicate_group_mark_not_duplicates,
    duplicate_group_resolve,
    duplicate_group_split,
    membership_confirmed,
)
from reviews.services.similarity_jobs import similarity_job_request
from reviews.services.verdicts import (
    UndoRefused,
    VerdictConflict,
    verdict_record,
    verdict_undo,
)
from synthreview.projects.access import ProjectAccess

__all__ = [
    "BulkCountChanged",
    "BulkResult",
    "DecisionConflict",
    "MembershipChanged",
    "UndoRefused",
    "VerdictConflict",
    "cluster_set_status",
    "duplicate_group_mark_not_duplicates",
    "duplicate_group_resolve",
    "duplicate_group_split",
    "membership_confirmed",
    "samples_bulk_set_status",
    "samples_status_set",
    "similarity_refit",
    "similarity_refresh",
    "verdict_record",
    "verdict_undo",
]


def similarity_refresh(*, project_id: int, requested_by: object | None = None) -> None:
    """New or changed samples: embed them, then rebuild neighbours and groups, in a worker after commit.
    It takes ids: generation's samples-arrived signal calls it with no ProjectAccess to hand."""
    similarity_job_request(project_id=project_id, requested_by=requested_by)


def similarity_refit(access: ProjectAccess) -> None:
    """A lead's request: a full build that fits the clusters again, in a worker after commit."""
    similarity_job_request(
        project_id=access.project.pk, kind=SimilarityJobKind.BUILD, requested_by=access.actor, full=True
    )
