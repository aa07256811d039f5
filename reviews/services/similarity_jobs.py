"""Similarity jobs: requested when samples arrive, claimed once by a worker,
with progress the pages poll."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from reviews.models import SimilarityJob, SimilarityJobKind, SimilarityJobStatus
from synthreview.projects.access import signed_in_account
from synthreview.projects.queue import enqueue_on_commit


def _stale_after() -> timedelta:
    """A running job whose heartbeat is older than this lost its worker."""
    return timedelta(seconds=settings.SIMILARITY_JOB_STALE_S)


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
        status=SimilarityJobStatus.RUNNING, heartbeat__lt=now - _stale_after()
    )
    return bool(
        SimilarityJob.objects.filter(claimable, pk=job_id).update(
            status=SimilarityJobStatus.RUNNING, started_at=now, heartbeat=now
        )
    )


def similarity_job_busy_for(*, job_id: int) -> float | None:
    """Seconds until a running job that a worker could not claim becomes claimable (its
    heartbeat lapses, if its worker died); None when the job has ended and there is nothing to do."""
    job = SimilarityJob.objects.filter(pk=job_id).values("status", "heartbeat").first()
    if job is None or job["status"] not in (SimilarityJobStatus.QUEUED, SimilarityJobStatus.RUNNING):
        return None
    if job["heartbeat"] is None:
        return 0.0
    return max(0.0, (job["heartbeat"] + _stale_after() - timezone.now()).total_seconds())


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


def similarity_job_take_over(*, project_id: int, kind: str, full: bool = False) -> int | None:
    """Work about to be done outside a worker (the embed and build_similarity commands) claims the
    project's queued job of that kind, so the pages follow it and show it done, and a worker that
    gets the job later finds it taken. A queued full build is left to a run that is full too.
    Returns the claimed job's id, or None when no job was waiting."""
    waiting = SimilarityJob.objects.filter(project_id=project_id, kind=kind, status=SimilarityJobStatus.QUEUED)
    if not full:
        waiting = waiting.filter(full=False)
    job_id = waiting.values_list("pk", flat=True).first()
    if job_id is None or not similarity_job_claim(job_id=job_id):
        return None
    return job_id
