from __future__ import annotations

from datetime import datetime

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from reviews.models import SimilarityJob, SimilarityJobKind
from reviews.services.alerts import alert_notify
from reviews.services.demo_audits import RunsNotFinished, demo_audits_create
from reviews.services.embeddings import embeddings_compute
from reviews.services.eval_leaks import eval_leak_check, eval_leaks_after_build
from reviews.services.exports import export_run
from reviews.services.quality_checks import quality_check_run, quality_checks_dispatch
from reviews.services.quality_snapshots import quality_snapshots_compute
from reviews.services.similarity_build import similarity_build
from reviews.services.similarity_jobs import (
    similarity_job_busy_for,
    similarity_job_claim,
    similarity_job_finish,
    similarity_job_progress,
    similarity_job_request,
)
from reviews.services.similarity_search_run import similarity_search_run
from synthreview.progress import progress_key, progress_set
from synthreview.task_limits import task_limits

# A delivery that finds its job held by another worker looks again this many times, once the
# holder's heartbeat would have lapsed; a live holder finishes the job itself.
SIMILARITY_JOB_BUSY_RETRIES = 3


@shared_task(bind=True, acks_late=True, max_retries=SIMILARITY_JOB_BUSY_RETRIES, **task_limits("similarity"))
def similarity_job_task(self: Task, job_id: int) -> None:
    """Embed, then build: an embed job queues the build that follows it."""
    if not similarity_job_claim(job_id=job_id):
        # Another worker holds the job. If it died (a redelivery after a kill), its heartbeat
        # lapses and a later look takes the job over; without this the job stayed "running".
        wait = similarity_job_busy_for(job_id=job_id)
        if wait is not None and self.request.retries < SIMILARITY_JOB_BUSY_RETRIES:
            raise self.retry(countdown=wait + 1)
        return
    job = SimilarityJob.objects.get(pk=job_id)
    try:
        if job.kind == SimilarityJobKind.EMBED:
            embedded = 0

            def report(done: int, total: int) -> None:
                nonlocal embedded
                embedded = done
                similarity_job_progress(job_id=job_id, done=done, total=total, stage="embedding")

            try:
                written = embeddings_compute(project_id=job.project_id, progress=report)
            except SoftTimeLimitExceeded:
                if not embedded:
                    # Not one batch stored in a whole time limit: a next job would do the same, forever.
                    similarity_job_finish(
                        job_id=job_id,
                        error=f"embedding stored nothing within its time limit "
                        f"({task_limits('similarity')['soft_time_limit']} s)",
                    )
                    return
                # Embedding is incremental (each batch commits): this job ends with what it
                # stored, and the next one goes on from there, chunk by chunk.
                similarity_job_finish(job_id=job_id, summary={"embedded": embedded, "continued": True})
                similarity_job_request(project_id=job.project_id, kind=SimilarityJobKind.EMBED)
                return
            similarity_job_finish(job_id=job_id, summary={"embedded": written})
            similarity_job_request(project_id=job.project_id, kind=SimilarityJobKind.BUILD)
        else:
            summary = similarity_build(
                project_id=job.project_id,
                full=job.full,
                progress=lambda done, total, stage: similarity_job_progress(
                    job_id=job_id, done=done, total=total, stage=stage
                ),
            )
            similarity_job_finish(job_id=job_id, summary=summary.as_dict())
            # Fresh neighbours and groups: measure quality from them, and check the new samples for eval leaks.
            quality_snapshot_task.delay(job.project_id, timezone.now().isoformat())
            eval_leaks_after_build_task.delay(job.project_id)
    except Exception as error:
        similarity_job_finish(job_id=job_id, error=f"{type(error).__name__}: {error}")
        raise


@shared_task(acks_late=True, max_retries=2, default_retry_delay=60, **task_limits("quality"))
def quality_snapshot_task(project_id: int, requested_at: str | None = None) -> None:
    """Measure duplication, diversity, fidelity, privacy and drift from the stored embeddings.
    With the time it was asked for, a redelivery finds the snapshot taken since and measures nothing twice."""
    if requested_at is None:
        quality_snapshots_compute(project_id=project_id)
    else:
        quality_check_run(project_id=project_id, claimed_at=datetime.fromisoformat(requested_at))


@shared_task(acks_late=True, max_retries=0, **task_limits("short"))
def quality_checks_dispatch_task() -> int:
    """Beat's entry, every tick: claim the projects whose scheduled check is due and enqueue each.
    Claims are conditional UPDATEs, so a second beat or a redelivery claims nothing twice."""
    return quality_checks_dispatch()


@shared_task(acks_late=True, max_retries=2, default_retry_delay=60, **task_limits("quality"))
def quality_check_task(project_id: int, claimed_at: str) -> None:
    """One project's scheduled check: snapshot, drift and alerts; skipped when a snapshot
    was taken since the claim, so a redelivered task measures nothing twice."""
    quality_check_run(project_id=project_id, claimed_at=datetime.fromisoformat(claimed_at))


@shared_task(acks_late=True, max_retries=0, soft_time_limit=60, time_limit=80)
def similarity_search_task(search_id: int) -> None:
    """Answer one semantic search; claimed once, so a redelivery answers nothing twice. A reader
    waits on it: no retries, a failure is shown on the page instead."""
    similarity_search_run(search_id=search_id)


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30, **task_limits("short"))
def alert_notify_task(alert_id: int) -> None:
    """Email and webhook for one alert; each is sent once even if the task runs twice."""
    alert_notify(alert_id=alert_id)


@shared_task(bind=True, acks_late=True, max_retries=60, default_retry_delay=5, **task_limits("short"))
def demo_audits_task(self: Task, project_id: int) -> None:
    """The demo's audits, once its runs are done; skipped if the project has audits already."""
    try:
        demo_audits_create(project_id=project_id)
    except RunsNotFinished as waiting:
        raise self.retry(exc=waiting) from None


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30, **task_limits("similarity"))
def eval_leak_check_task(version_id: int) -> None:
    """Compare the train side with a new eval-set version; incremental, so a rerun only finishes the rest."""
    eval_leak_check(version_id=version_id)


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30, **task_limits("quality"))
def eval_leaks_after_build_task(project_id: int) -> None:
    eval_leaks_after_build(project_id=project_id)


@shared_task(acks_late=True, max_retries=2, default_retry_delay=30, **task_limits("export"))
def export_task(export_id: int) -> None:
    """Decide the gates and stream the file; a redelivered task finds the export finished and stops."""
    key = progress_key("export", export_id)

    def report(done: int, total: int, stage: str) -> None:
        progress_set(key, done=done, total=total or None, unit="rows", detail=stage)

    export_run(export_id=export_id, progress=report)
