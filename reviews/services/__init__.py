"""Writes of the reviews app, split by feature."""

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
    """New or changed samples: embed them, then rebuild neighbours and groups, in a worker after commit."""
    similarity_job_request(project_id=project_id, requested_by=requested_by)


def similarity_refit(*, project_id: int, requested_by: object | None = None) -> None:
    """A lead's request: a full build that fits the clusters again, in a worker after commit."""
    similarity_job_request(project_id=project_id, kind=SimilarityJobKind.BUILD, requested_by=requested_by, full=True)
