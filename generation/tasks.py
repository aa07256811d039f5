from __future__ import annotations

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import IntegrityError, OperationalError

from generation.selectors.runs import runs_orphaned
from generation.services.checks import import_checks_run
from generation.services.imports import (
    ImportProgress,
    import_batch_mark_failed,
    import_batch_run,
)
from generation.services.run_lane_writer import LaneProgress
from generation.services.run_lanes import LaneUnavailable, lane_execute, lane_give_up, lane_lease_remaining
from generation.services.runs import run_finish_if_done, run_prepare
from synthreview.progress import progress_key, progress_set
from synthreview.task_limits import task_limits

IMPORT_MAX_RETRIES = 3
LANE_MAX_RETRIES = 5
LANE_UNAVAILABLE_RETRY_S = 30
LANE_ERROR_RETRIES = 2
LANE_ERROR_RETRY_S = 30


@shared_task(bind=True, acks_late=True, max_retries=IMPORT_MAX_RETRIES, default_retry_delay=30, **task_limits("import"))
def import_batch_task(self: Task, batch_id: int) -> None:
    key = progress_key("import", batch_id)

    def report(step: ImportProgress) -> None:
        progress_set(
            key, done=step.done_units, total=step.total_units, unit=step.unit, detail=f"{step.rows_read:,} rows read"
        )

    try:
        import_batch_run(batch_id=batch_id, progress=report)
    except OperationalError as error:
        # The database went away mid-import: it rolled back, so a retry starts clean.
        if self.request.retries < IMPORT_MAX_RETRIES:
            raise self.retry(exc=error) from error
        import_batch_mark_failed(
            batch_id=batch_id, reason=f"the database failed repeatedly ({error}); nothing was imported; try again"
        )
        raise
    except SoftTimeLimitExceeded:
        import_batch_mark_failed(
            batch_id=batch_id,
            reason=(
                f"the import ran past its time limit ({task_limits('import')['soft_time_limit']} s) and was "
                "stopped; nothing was imported; split the file, or ask an operator to raise TASK_SOFT_LIMIT_IMPORT_S"
            ),
        )
        raise
    except Exception as error:
        import_batch_mark_failed(
            batch_id=batch_id,
            reason=f"the import stopped on an unexpected error ({type(error).__name__}); nothing was imported",
        )
        raise


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30, **task_limits("short"))
def run_execute_task(run_id: int) -> None:
    """Make the run's items (once), then give each generator's lane its own task,
    so lanes run side by side on as many workers as there are."""
    generator_ids = run_prepare(run_id=run_id)
    if not generator_ids:
        run_finish_if_done(run_id=run_id)
    for generator_id in generator_ids:
        run_lane_task.delay(run_id, generator_id)


@shared_task(bind=True, acks_late=True, max_retries=LANE_MAX_RETRIES, **task_limits("lane"))
def run_lane_task(self: Task, run_id: int, generator_id: int, errors: int = 0) -> None:
    written = 0

    def count_written(progress: LaneProgress) -> None:
        nonlocal written
        written = progress.done + progress.failed

    try:
        outcome = lane_execute(run_id=run_id, generator_id=generator_id, on_progress=count_written)
    except SoftTimeLimitExceeded:
        if written:
            # A long lane works in chunks: what was written stays, the lease is given up, and a
            # fresh task (with fresh retries) goes on with the items still pending.
            run_lane_task.delay(run_id, generator_id)
            return
        # A whole time limit without one item written (a generator that never answers, a rate
        # limit that never lifts): a fresh task would do the same, forever. The lane fails with
        # the reason, and a lead retries the failed items once the generator is fixed.
        lane_give_up(
            run_id=run_id,
            generator_id=generator_id,
            reason=f"the lane wrote nothing within its time limit ({task_limits('lane')['soft_time_limit']} s)",
        )
        outcome = "finished"
    except LaneUnavailable as error:
        if self.request.retries < LANE_MAX_RETRIES:
            raise self.retry(countdown=LANE_UNAVAILABLE_RETRY_S * 2**self.request.retries) from error
        lane_give_up(run_id=run_id, generator_id=generator_id, reason=f"{error} (gave up after retrying)")
        outcome = "finished"
    except (OperationalError, IntegrityError) as error:
        # The database went away, or a write raced another lane three times: the batch
        # rolled back and its items are still pending; try the lane again.
        raise self.retry(exc=error, countdown=10) from error
    except Exception as error:
        # A bug or a surprise: the batch in hand rolled back and its items are pending.
        # A few more tries, then the rest of the lane fails with the reason on each
        # item, so the run ends and a lead can retry the failed items, instead of the
        # run sitting "running" with nobody working on it.
        # Counted apart from the retries for a busy lane or the database, which say
        # nothing about this error.
        if errors < LANE_ERROR_RETRIES:
            raise self.retry(
                exc=error,
                countdown=LANE_ERROR_RETRY_S,
                kwargs={"errors": errors + 1},
                max_retries=self.request.retries + 1,
            ) from error
        lane_give_up(
            run_id=run_id,
            generator_id=generator_id,
            reason=f"the lane stopped on an unexpected error ({type(error).__name__}: {error})"[:500],
        )
        outcome = "finished"
    if outcome == "busy":
        # Another worker holds the lane. If it is alive it renews its lease and finishes the lane
        # itself, and these few retries end quietly; if it died, a retry takes over once its lease lapses.
        if self.request.retries < 3:
            raise self.retry(countdown=lane_lease_remaining(run_id=run_id, generator_id=generator_id) + 1)
        return
    run_finish_if_done(run_id=run_id)


@shared_task(acks_late=True, max_retries=0, **task_limits("short"))
def runs_resume_orphaned_task() -> None:
    """At worker start: runs left running by a worker that died get their lanes queued again."""
    for run_id in runs_orphaned():
        run_execute_task.delay(run_id)


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30, **task_limits("quality"))
def checks_for_import_task(batch_id: int) -> None:
    # Idempotent: flags are keyed by (sample, check), so a redelivery writes nothing twice.
    import_checks_run(batch_id=batch_id)
