"""Writes of the reviews app, split by feature.

A service that acts for someone takes `access: ProjectAccess` first, keyword-only, then `actor`:
the user recorded as doing it, or, for work no person started (a management command, the demo, a
bench script), the `SystemActor` that `ProjectAccess.for_system(project, actor)` was built with, so
the audit log names the program (`details["system_actor"]`) instead of borrowing a member's role.
The view has already checked `access.can(need)`; the service reads the project from `access`.
Services that act on a project with no one behind them (workers: embedding, builds, snapshots, the
export's file) take ids (`project_id=`, `export_id=`) and load the rows themselves; their log rows
have no actor. Older services that take `project=` and `actor=` (audits and verdicts, generators,
imports, runs) keep that shape for now; those that the CLI and the demo call (audit_create,
gold_sample_set, run_resume, project_create, membership_set) accept a `SystemActor` as `actor`.
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
