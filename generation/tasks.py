from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from generation.ingest.service import (
    ImportProgress,
    import_batch_mark_failed,
    import_batch_run,
)
from generation.runs import run_execute
from synthreview.progress import progress_key, progress_set

IMPORT_MAX_RETRIES = 3


@shared_task(bind=True, acks_late=True, max_retries=IMPORT_MAX_RETRIES, default_retry_delay=30)
def import_batch_task(self, batch_id: int) -> None:  # type: ignore[no-untyped-def]
    key = progress_key("import", batch_id)

    def report(step: ImportProgress) -> None:
        progress_set(key, done=step.done_units, total=step.total_units, unit=step.unit,
                     detail=f"{step.rows_read:,} rows read")

    try:
        import_batch_run(batch_id=batch_id, progress=report)
    except OperationalError as error:
        # The database went away mid-import: it rolled back, so a retry starts clean.
        if self.request.retries < IMPORT_MAX_RETRIES:
            raise self.retry(exc=error) from error
        import_batch_mark_failed(batch_id=batch_id, reason=f"the database failed repeatedly ({error}); "
                                 "nothing was imported; try again")
        raise
    except Exception as error:
        import_batch_mark_failed(batch_id=batch_id, reason=f"the import stopped on an unexpected error "
                                 f"({type(error).__name__}); nothing was imported")
        raise


@shared_task(acks_late=True, max_retries=3, default_retry_delay=30)
def run_execute_task(run_id: int) -> None:
    run_execute(run_id=run_id)
