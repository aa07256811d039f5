"""Similarity work done from the command line (`embed`, `build_similarity`) ends the jobs that
an import queued for a worker, so the project page does not show them queued for ever."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from reviews.models import SampleEmbedding, SimilarityJob
from tests.generation.ingest_helpers import write_jsonl

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}

ROWS = [{"input": f"What is {n} plus {n + 1}?", "output": f"{2 * n + 1}"} for n in range(12)]


def _job_labels(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-testid="job-(\w+)">([^<]*)<', page))


def test_jobs_an_import_queued_end_when_the_commands_do_their_work(project, expert, client_for, tmp_path: Path):
    path = write_jsonl(tmp_path / "real.jsonl", ROWS)
    # No worker: the import's job is queued, and nothing will take it.
    call_command("import_samples", project.slug, str(path), "--origin", "real", "--no-progress", stdout=StringIO())
    client = client_for(expert)
    assert _job_labels(client.get(reverse("project_detail", args=[project.slug])).content.decode()) == {
        "embed": "Embed samples: Queued"
    }

    call_command("embed", project.slug, "--no-progress", stdout=StringIO())
    call_command("build_similarity", project.slug, "--no-progress", stdout=StringIO())

    assert SampleEmbedding.objects.filter(sample__project=project).count() == len(ROWS)
    page = client.get(reverse("project_detail", args=[project.slug])).content.decode()
    labels = _job_labels(page)
    assert labels == {"embed": "Embed samples: Completed"}
    job = SimilarityJob.objects.get(project=project)
    assert (job.status, job.summary.get("embedded"), job.done, job.total) == ("completed", len(ROWS), 12, 12)
    # The status card stops polling: nothing is left to wait for.
    assert client.get(reverse("similarity_status", args=[project.slug]), headers=HTMX).status_code == 286


def test_a_worker_that_gets_the_job_afterwards_does_nothing(project, tmp_path: Path):
    from reviews.tasks import similarity_job_task

    path = write_jsonl(tmp_path / "real.jsonl", ROWS[:3])
    call_command("import_samples", project.slug, str(path), "--origin", "real", "--no-progress", stdout=StringIO())
    call_command("embed", project.slug, "--no-progress", stdout=StringIO())
    job = SimilarityJob.objects.get(project=project)
    finished_at = job.finished_at

    similarity_job_task.apply(args=[job.pk], throw=False)

    job.refresh_from_db()
    assert (job.status, job.finished_at) == ("completed", finished_at)
    # An embed job run by a worker queues the build after it; this one was not run again.
    assert not SimilarityJob.objects.filter(project=project, kind="build").exists()


def test_a_queued_full_build_waits_for_a_full_run(project):
    from reviews.services.similarity_jobs import similarity_job_take_over

    full = SimilarityJob.objects.create(project=project, kind="build", full=True)
    assert similarity_job_take_over(project_id=project.pk, kind="build", full=False) is None
    assert SimilarityJob.objects.get(pk=full.pk).status == "queued"
    assert similarity_job_take_over(project_id=project.pk, kind="build", full=True) == full.pk
    assert SimilarityJob.objects.get(pk=full.pk).status == "running"


def test_a_command_that_fails_ends_its_job_failed(project, monkeypatch):
    from reviews.management.commands import embed as embed_command

    job = SimilarityJob.objects.create(project=project, kind="embed")

    def model_missing(**kwargs: object) -> int:
        raise OSError("model files not found")

    monkeypatch.setattr(embed_command, "embeddings_compute", model_missing)
    with pytest.raises(OSError):
        call_command("embed", project.slug, "--no-progress", stdout=StringIO())
    job.refresh_from_db()
    assert job.status == "failed" and job.error == "OSError: model files not found"
