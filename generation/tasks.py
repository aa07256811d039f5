from __future__ import annotations

from celery import shared_task

from generation.ingest.service import ImportProgress, import_batch_run
from generation.runs import run_execute
from synthreview.progress import progress_key, progress_set


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30)
def import_batch_task(batch_id: int) -> None:
    key = progress_key("import", batch_id)

    def report(step: ImportProgress) -> None:
        progress_set(key, done=step.done_units, total=step.total_units, unit=step.unit,
                     detail=f"{step.rows_read:,} rows read")

    import_batch_run(batch_id=batch_id, progress=report)


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30)
def run_execute_task(run_id: int) -> None:
    run_execute(run_id=run_id)
