"""Embedding progress moves in steps a lead can see: the 252 expert-written
Self-Instruct tasks used to read "0 / 252" until every one was embedded.

The job runs through the real path (similarity_refresh → the queued job → the
worker's task → the job row the status partial polls); only the model is a stand-in,
so the test controls how long a step takes."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from django.urls import reverse

from reviews.models import SimilarityJob, SimilarityJobKind
from reviews.services import embeddings, similarity_refresh
from tests.reviews.review_helpers import HTMX, add_samples

pytestmark = pytest.mark.django_db


@pytest.fixture
def expert_tasks(project, shared_data: Path) -> int:
    path = shared_data / "self_instruct_user_oriented" / "user_oriented_instructions.jsonl"
    tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    add_samples(
        project,
        len(tasks),
        origin="real",
        texts=[(task["instruction"], task["instances"][0]["output"]) for task in tasks],
    )
    return len(tasks)


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """Job ids the worker would receive; the test runs each itself."""
    from reviews.tasks import similarity_job_task

    ids: list[int] = []
    monkeypatch.setattr(similarity_job_task, "delay", ids.append)
    return ids


def _stand_in_model(pause: float, calls: list[int], on_call=lambda: None):
    def encode(texts: list[str], *, model_name: str | None = None, batch_size: int | None = None) -> np.ndarray:
        on_call()
        calls.append(len(texts))
        time.sleep(pause)
        rng = np.random.default_rng(len(calls))
        vectors = rng.standard_normal((len(texts), 8)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return encode


def _embed_job(project, queued: list[int], django_capture_on_commit_callbacks) -> SimilarityJob:
    from reviews.tasks import similarity_job_task

    with django_capture_on_commit_callbacks(execute=True):
        similarity_refresh(project_id=project.pk)
    job = SimilarityJob.objects.get(pk=queued[0], kind=SimilarityJobKind.EMBED)
    with django_capture_on_commit_callbacks(execute=True):
        similarity_job_task(job.pk)
    job.refresh_from_db()
    return job


def test_a_slow_model_shows_progress_every_32_texts_on_the_status_partial(
    project, lead, client_for, expert_tasks, queued, monkeypatch, django_capture_on_commit_callbacks
):
    client = client_for(lead)
    shown: list[str] = []

    def read_the_page() -> None:
        html = client.get(reverse("similarity_status", args=[project.slug]), headers=HTMX).content.decode()
        match = re.search(r"(\d[\d,]*) / (\d[\d,]*)", html)
        shown.append(match.group(0) if match else "nothing")

    calls: list[int] = []
    # Each step takes longer than the interval, as 32 texts do on a CPU: steps stay at 32.
    monkeypatch.setattr(embeddings, "PROGRESS_INTERVAL_S", 0.001)
    monkeypatch.setattr(embeddings, "encode", _stand_in_model(0.002, calls, read_the_page))

    job = _embed_job(project, queued, django_capture_on_commit_callbacks)

    assert expert_tasks == 252
    # What the polling partial read while the model was working: 32 more each time.
    assert shown == ["0 / 252", "32 / 252", "64 / 252", "96 / 252", "128 / 252", "160 / 252", "192 / 252", "224 / 252"]
    assert calls == [32] * 7 + [28]
    assert (job.status, job.done, job.total, job.summary) == ("completed", 252, 252, {"embedded": 252})


def test_a_fast_model_takes_longer_steps_so_the_job_row_is_written_less(
    project, expert_tasks, queued, monkeypatch, django_capture_on_commit_callbacks
):
    import reviews.tasks

    written: list[tuple[int, int]] = []
    real_progress = reviews.tasks.similarity_job_progress

    def spy(*, job_id: int, done: int, total: int, stage: str = "") -> None:
        written.append((done, total))
        real_progress(job_id=job_id, done=done, total=total, stage=stage)

    calls: list[int] = []
    monkeypatch.setattr(reviews.tasks, "similarity_job_progress", spy)
    # Every step is far quicker than the interval, as on a GPU: each doubles the next.
    monkeypatch.setattr(embeddings, "PROGRESS_INTERVAL_S", 5.0)
    monkeypatch.setattr(embeddings, "encode", _stand_in_model(0.0, calls))

    job = _embed_job(project, queued, django_capture_on_commit_callbacks)

    assert calls == [32, 64, 128, 28]
    assert written == [(0, 252), (32, 252), (96, 252), (224, 252), (252, 252)]
    assert (job.status, job.done) == ("completed", 252)
