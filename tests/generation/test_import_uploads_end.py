"""A file uploaded on the import page lives until its import ends (imported, refused or given up),
then it is deleted; until then a retry of the import still finds it. The page tells a stalled
import from a moving one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.urls import reverse
from django.utils import timezone

from generation.models import ImportBatch, Sample
from synthreview.progress import progress_key, progress_set

pytestmark = pytest.mark.django_db


def _upload(client, project, body: bytes, name: str = "batch.jsonl", **fields):
    data = {"file": SimpleUploadedFile(name, body), "origin": "synthetic", "generator": "gpt-x", **fields}
    return client.post(reverse("import_new", args=[project.slug]), data)


def _uploads(project) -> list[Path]:
    folder = settings.DATA_DIR / "imports" / str(project.pk)
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_an_imported_upload_is_deleted(project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _upload(client_for(lead), project, b'{"input": "2+2?", "output": "4"}\n')
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "completed"
    assert not Path(batch.stored_path).exists()
    assert _uploads(project) == []


def test_a_refused_upload_is_deleted_and_its_page_counts_what_it_lists(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    client = client_for(lead)
    body = b"".join(b'{"prompt": "q%d", "text": "a%d"}\n' % (i, i) for i in range(55))
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, project, body)
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "failed"
    assert _uploads(project) == []
    page = client.get(response["Location"]).content.decode()
    assert "Nothing was imported (showing the first 50 of 55 problems)" in page
    assert page.count("missing output</li>") == 50
    assert "--map output=text" in page


def _queued_upload(client, project, body: bytes) -> ImportBatch:
    """An upload that waits for a worker (its enqueueing is left uncommitted, so no task is sent)."""
    _upload(client, project, body)
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "queued" and Path(batch.stored_path).is_file()
    return batch


def test_an_upload_waits_for_the_retry_after_a_database_failure(
    project, lead, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    from generation.services import imports as service
    from generation.tasks import import_batch_task

    real_import_rows = service._import_rows
    seen: list[bool] = []

    def database_gone_once(batch, **kwargs):
        # What each try finds on disk: the retry must still have the file.
        seen.append(Path(batch.stored_path).is_file())
        if len(seen) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_import_rows(batch, **kwargs)

    monkeypatch.setattr(service, "_import_rows", database_gone_once)
    batch = _queued_upload(client_for(lead), project, b'{"input": "2+2?", "output": "4"}\n')
    # As a worker runs it: the retry runs at once, in this process.
    with django_capture_on_commit_callbacks(execute=True):
        import_batch_task.apply(args=[batch.pk], throw=False)
    assert seen == [True, True]
    assert ImportBatch.objects.get(project=project).status == "completed"
    assert Sample.objects.filter(project=project).count() == 1
    assert _uploads(project) == []


def test_an_upload_is_deleted_when_the_import_gives_up(
    project, lead, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    from generation.services import imports as service
    from generation.tasks import IMPORT_MAX_RETRIES, import_batch_task

    tries: list[bool] = []

    def database_gone(batch, **kwargs):
        tries.append(Path(batch.stored_path).is_file())
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(service, "_import_rows", database_gone)
    batch = _queued_upload(client_for(lead), project, b'{"input": "2+2?", "output": "4"}\n')
    with django_capture_on_commit_callbacks(execute=True):
        import_batch_task.apply(args=[batch.pk], throw=False)
    assert tries == [True] * (IMPORT_MAX_RETRIES + 1)
    batch.refresh_from_db()
    assert batch.status == "failed" and "the database failed repeatedly" in batch.errors[0]
    assert _uploads(project) == []


def test_an_upload_is_deleted_when_the_import_stops_on_an_unexpected_error(
    project, lead, client_for, monkeypatch, django_capture_on_commit_callbacks
):
    from generation.services import imports as service
    from generation.tasks import import_batch_task

    def explode(batch, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(service, "_import_rows", explode)
    batch = _queued_upload(client_for(lead), project, b'{"input": "2+2?", "output": "4"}\n')
    with django_capture_on_commit_callbacks(execute=True):
        import_batch_task.apply(args=[batch.pk], throw=False)
    batch.refresh_from_db()
    assert batch.status == "failed" and "unexpected error (RuntimeError)" in batch.errors[0]
    assert _uploads(project) == []


def test_a_queued_upload_keeps_its_file(project, lead, client_for):
    # No worker yet: the file waits for it.
    _upload(client_for(lead), project, b'{"input": "2+2?", "output": "4"}\n')
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "queued"
    assert Path(batch.stored_path).is_file()


# --- the page of an import that stopped moving ---------------------------------------------


def test_a_queued_import_nobody_took_says_so_after_a_while(project, lead, client_for):
    batch = ImportBatch.objects.create(project=project, file_name="x.jsonl", format="jsonl")
    cache.delete(progress_key("import", batch.pk))  # the cache outlives a test; ids are reused
    url = reverse("import_detail", args=[project.slug, batch.pk])
    client = client_for(lead)
    assert 'data-testid="import-stalled"' not in client.get(url).content.decode()

    ImportBatch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(minutes=25))
    page = client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert 'data-testid="import-stalled"' in page and "No progress for 25 minutes" in page
    assert 'hx-trigger="every 2s"' in page  # a worker may still take it up


def test_an_import_with_fresh_progress_is_not_stalled(project, lead, client_for):
    batch = ImportBatch.objects.create(project=project, file_name="x.jsonl", format="jsonl")
    ImportBatch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timedelta(hours=1))
    progress_set(progress_key("import", batch.pk), done=10, total=100, unit="bytes", detail="5,000 rows read")
    page = client_for(lead).get(reverse("import_detail", args=[project.slug, batch.pk])).content.decode()
    assert "10% · 5,000 rows read" in page
    assert 'data-testid="import-stalled"' not in page
