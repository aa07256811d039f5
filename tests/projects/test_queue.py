"""Services start background work by task name; the name must be a real task."""

from __future__ import annotations

import pytest
from celery.exceptions import NotRegistered
from django.db import transaction

from generation.models import ImportBatch, ImportStatus
from synthreview.projects.queue import enqueue_on_commit


@pytest.mark.django_db
def test_a_misspelt_task_name_fails_where_it_is_enqueued():
    with pytest.raises(NotRegistered):
        enqueue_on_commit("generation.tasks.no_such_task", 1)


@pytest.mark.django_db(transaction=True)
def test_the_named_task_runs_only_once_the_transaction_commits(project, run_tasks_inline):
    # The import task marks a batch whose file is gone as failed: a visible effect of the task having run.
    batch = ImportBatch.objects.create(
        project=project, file_name="gone.jsonl", format="jsonl", stored_path="/nonexistent/gone.jsonl"
    )
    with transaction.atomic():
        enqueue_on_commit("generation.tasks.import_batch_task", batch.pk)
        batch.refresh_from_db()
        assert batch.status == ImportStatus.QUEUED
    batch.refresh_from_db()
    assert batch.status == ImportStatus.FAILED
