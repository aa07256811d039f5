"""Similarity jobs: requested when samples arrive, claimed once by a worker,
with progress the pages poll."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from reviews.models import SimilarityJob, SimilarityJobKind, SimilarityJobStatus
from synthreview.projects.access import signed_in_account
from synthreview.projects.queue import enqueue_on_commit

# A running job whose heartbeat is older than this lost its worker.
STALE_AFTER = timedelta(minutes=5)


def similarity_job_request(
    *, project_id: int, kind: str = SimilarityJobKind.EMBED, requested_by: object | None = None, full: bool = False
) -> SimilarityJob:
    """Queue a job, or join the one already queued; the worker starts after commit.
    `full` (a build that refits the clusters) sticks to a queued build that others join."""
    with transaction.atomic():
        job = SimilarityJob.objects.filter(project_id=project_id, kind=kind, status=SimilarityJobStatus.QUEUED).first()
        if job is None:
            try:
                with transaction.atomic():
                    job = SimilarityJob.objects.create(
                        project_id=project_id,
                        kind=kind,
                        full=full,
                        requested_by=signed_in_account(requested_by),
                    )
            except IntegrityError:  # another request queued it a moment ago
                job = SimilarityJob.objects.get(project_id=project_id, kind=kind, status=SimilarityJobStatus.QUEUED)
        if full and not job.full:
            SimilarityJob.objects.filter(pk=job.pk, status=SimilarityJobStatus.QUEUED).update(full=True)
            job.full = True
        job_id = job.pk
        enqueue_on_commit("reviews.tasks.similarity_job_task", job_id)
    return job


def similarity_job_claim(*, job_id: int) -> bool:
    now = timezone.now()
    claimable = Q(status=SimilarityJobStatus.QUEUED) | Q(
        status=SimilarityJobStatus.RUNNING, heartbeat__lt=now - STALE_AFTER
    )
    return bool(
        SimilarityJob.objects.filter(claimable, pk=job_id).update(
            status=SimilarityJobStatus.RUNNING, started_at=now, heartbeat=now
        )
    )


def similarity_job_progress(*, job_id: int, done: int, total: int, stage: str = "") -> None:
    SimilarityJob.objects.filter(pk=job_id).update(
        done=done, total=total, heartbeat=timezone.now(), summary={"stage": stage} if stage else {}
    )


def similarity_job_finish(*, job_id: int, summary: dict | None = None, error: str = "") -> None:
    SimilarityJob.objects.filter(pk=job_id).update(
        status=SimilarityJobStatus.FAILED if error else SimilarityJobStatus.COMPLETED,
        summary=summary or {},
        error=error,
        finished_at=timezone.now(),
    )
