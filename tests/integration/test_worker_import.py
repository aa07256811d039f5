"""A web upload is imported by a real worker, through Redis, into PostgreSQL."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generation.models import ImportBatch, Sample
from synthreview.projects.models import SampleCount
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_uploaded_file_is_imported_by_the_worker(celery_worker_process, project, lead, client_for, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the worker reads the upload from the path the web tier stored
    rows = "".join(f'{{"instruction": "Add {i} and {i}.", "response": "{2 * i}"}}\n' for i in range(300))
    client = client_for(lead)
    response = client.post(
        reverse("import_new", args=[project.slug]),
        {"file": SimpleUploadedFile("sums.jsonl", rows.encode()), "origin": "synthetic", "generator": "adder"},
    )
    assert response.status_code == 302
    batch = ImportBatch.objects.get(project=project)
    batch = wait_for(
        lambda: ImportBatch.objects.filter(pk=batch.pk, status__in=["completed", "failed"]).first(),
        what="the worker to finish the import",
    )
    assert batch.status == "completed", batch.errors
    assert batch.rows_imported == 300
    assert Sample.objects.filter(project=project, generator__name="adder").count() == 300
    assert SampleCount.objects.get(project=project, origin="synthetic", status="pending").count == 300
    page = client.get(response["Location"]).content.decode()
    assert "Imported 300, skipped 0 duplicates of 300 rows read." in page


def test_a_queued_run_of_the_demo_generator_is_executed_by_the_worker(celery_worker_process, project):
    from generation.models import GenerationRun
    from generation.services.generators import generator_create
    from generation.services.runs import run_create_programmatic
    from generation.services.templates import template_version_create
    from tests.generation.run_helpers import setup_access

    access = setup_access(project)
    version = template_version_create(access, template_name="story", text="{{ facts }} {{ question }}")
    generator = generator_create(
        access, name="careful", kind="programmatic", programmatic_name="arithmetic-word-problems", seed=3
    )
    run = run_create_programmatic(
        access, name="r1", template_version=version, generators=[generator], items=50, seed=9, framing="story"
    )
    run = wait_for(
        lambda: GenerationRun.objects.filter(pk=run.pk, status="completed").first(),
        what="the worker to execute the run",
    )
    assert run.samples_created == Sample.objects.filter(run=run).count() > 40
