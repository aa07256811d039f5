"""What a task does when Celery's soft time limit fires in it. The pool raises SoftTimeLimitExceeded
inside the running task; a test cannot wait out a real limit, so the service raises it here, at the
point where a slow call would be interrupted. Each job must end in a true state and never requeue
itself forever."""

from __future__ import annotations

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from generation.models import ImportBatch, RunItem
from generation.runs.plan import ConstraintMix, GridCell
from generation.services.run_lane_writer import LaneProgress
from generation.services.runs import RunSpec, run_create, run_prepare
from reviews.models import SimilarityJob, SimilarityJobKind
from reviews.services.similarity_jobs import similarity_job_request
from tests.generation.run_helpers import openai_generator, setup_access, topic_template

pytestmark = pytest.mark.django_db


def _run(project, django_capture_on_commit_callbacks):
    version = topic_template(project)
    generator = openai_generator(project, "slow", "https://llm.example.com/v1")
    spec = RunSpec(
        project=project,
        name="slow",
        template_version=version,
        generators=[generator],
        cells=[GridCell(0.2, None, None)],
        table_rows=[{"topic": t} for t in ("tea", "owls", "maps")],
        constraints=ConstraintMix.parse(""),
        seed=1,
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(project), spec=spec)
    run_prepare(run_id=run.pk)  # what the run's first task does: make its items
    return run, generator


def test_a_lane_that_wrote_nothing_in_its_time_limit_fails_instead_of_requeueing(
    project, django_capture_on_commit_callbacks, monkeypatch
):
    from generation import tasks

    run, generator = _run(project, django_capture_on_commit_callbacks)
    requeued: list[tuple] = []
    monkeypatch.setattr(tasks.run_lane_task, "delay", lambda *args: requeued.append(args))

    def stuck(*, run_id, generator_id, on_progress=None):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks, "lane_execute", stuck)
    tasks.run_lane_task.apply(args=[run.pk, generator.pk])

    assert requeued == []
    items = RunItem.objects.filter(run=run)
    assert items.count() == 3
    assert set(items.values_list("status", flat=True)) == {"failed"}
    assert all("wrote nothing within its time limit" in item.error for item in items)
    run.refresh_from_db()
    assert run.status not in ("queued", "running")


def test_a_lane_that_wrote_some_items_goes_on_in_a_fresh_task(project, django_capture_on_commit_callbacks, monkeypatch):
    from generation import tasks

    run, generator = _run(project, django_capture_on_commit_callbacks)
    requeued: list[tuple] = []
    monkeypatch.setattr(tasks.run_lane_task, "delay", lambda *args: requeued.append(args))

    def slow(*, run_id, generator_id, on_progress=None):
        on_progress(LaneProgress(done=1, failed=0, total=3))
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks, "lane_execute", slow)
    tasks.run_lane_task.apply(args=[run.pk, generator.pk])

    assert requeued == [(run.pk, generator.pk)]
    assert not RunItem.objects.filter(run=run, status="failed").exists()


def test_an_import_past_its_time_limit_fails_and_says_so(project, lead, client_for, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    from generation import tasks
    from generation.services import imports as service

    def slow(batch, **kwargs):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(service, "_import_rows", slow)
    client = client_for(lead)
    response = client.post(
        reverse("import_new", args=[project.slug]),
        {"file": SimpleUploadedFile("a.jsonl", b'{"input": "q", "output": "a"}\n'), "origin": "real"},
    )
    batch = ImportBatch.objects.get(project=project)
    tasks.import_batch_task.apply(args=[batch.pk], throw=False)
    batch.refresh_from_db()
    assert batch.status == "failed"
    page = client.get(response["Location"]).content.decode()
    assert "ran past its time limit" in page
    assert "TASK_SOFT_LIMIT_IMPORT_S" in page


def test_an_embed_job_that_stored_nothing_in_its_time_limit_fails_instead_of_requeueing(project, monkeypatch):
    from reviews import tasks

    def stuck(*, project_id, progress=None):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(tasks, "embeddings_compute", stuck)
    job = similarity_job_request(project_id=project.pk, kind=SimilarityJobKind.EMBED)
    tasks.similarity_job_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.status == "failed"
    assert "stored nothing within its time limit" in job.error
    assert not SimilarityJob.objects.filter(project=project, status="queued").exists()
