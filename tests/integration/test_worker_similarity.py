"""Import → embeddings → index → groups → the similarity view, end to end through
a real worker on Redis; and a worker killed mid-batch loses and doubles nothing."""

from __future__ import annotations

import os
import signal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generation.models import Sample
from reviews.models import (
    DuplicateGroup,
    SampleEmbedding,
    SampleSimilarity,
    SimilarityJob,
)
from reviews.services.embeddings import embeddings_compute
from tests.integration.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUESTIONS = [
    "How many legs does a spider have?",
    "What is the capital of Kenya?",
    "Name a prime number above 90.",
    "Which planet is known as the red planet?",
    "What gas do plants absorb from the air?",
    "How many minutes are in three hours?",
    "Who wrote the play Hamlet?",
    "What is the boiling point of water?",
]


def _file() -> bytes:
    import json

    rows = [{"instruction": q, "response": f"The answer to '{q}' is worth a careful thought."} for q in QUESTIONS]
    # Two near-copies of the first answer, worded a little differently.
    rows.append({"instruction": QUESTIONS[0], "response": f"The answer to '{QUESTIONS[0]}' is worth careful thought."})
    rows.append(
        {"instruction": QUESTIONS[0], "response": f"The answer to '{QUESTIONS[0]}' is worth a careful thought!"}
    )
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def test_import_is_embedded_indexed_and_grouped_by_the_worker(celery_worker_process, project, lead, client_for):
    client = client_for(lead)
    response = client.post(
        reverse("import_new", args=[project.slug]),
        {"file": SimpleUploadedFile("qa.jsonl", _file()), "origin": "synthetic", "generator": "quizzer"},
    )
    assert response.status_code == 302
    build = wait_for(
        lambda: SimilarityJob.objects.filter(project=project, kind="build", status__in=["completed", "failed"]).first(),
        timeout=180,
        what="the worker to embed and build",
    )
    assert build.status == "completed", build.error
    samples = Sample.objects.filter(project=project).count()
    assert samples == 10
    assert SampleEmbedding.objects.filter(project=project).count() == samples
    assert SampleSimilarity.objects.filter(project=project).count() == samples
    group = DuplicateGroup.objects.get(project=project, kind="near")
    members = sorted(group.members.values_list("sample__output", flat=True))
    assert len(members) == 3 and all(QUESTIONS[0] in text for text in members)
    assert build.summary["groups"] == 1

    # What the reviewer then sees: the group on the similarity view, and the map the worker drew.
    page = client.get(reverse("similarity_view", args=[project.slug]))
    assert page.status_code == 200
    assert f'id="group-{group.pk}"' in page.content.decode()
    assert page.content.decode().count('<article class="member') == 3
    map_page = client.get(reverse("similarity_view", args=[project.slug]), {"tab": "map"})
    assert "Showing 10 of 10 embedded samples" in map_page.content.decode()


def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(celery_worker_process, project, settings):
    from generation.models import Generator
    from reviews.services import similarity_refresh

    generator = Generator.objects.create(project=project, name="g", kind="imported")
    Sample.objects.bulk_create(
        [
            Sample(
                project=project,
                origin="synthetic",
                generator=generator,
                input=f"Question {i}: what is {i} + {i}?",
                output=f"{i} + {i} = {2 * i}. " * 8,
                content_hash=f"{i:064x}",
            )
            for i in range(1500)
        ]
    )
    similarity_refresh(project_id=project.pk)  # on commit (autocommit here): the worker starts embedding
    wait_for(
        lambda: SampleEmbedding.objects.filter(project=project).count() >= 300,
        timeout=180,
        what="the worker to write a few batches",
    )
    os.kill(celery_worker_process.pid, signal.SIGKILL)
    celery_worker_process.wait(timeout=10)
    written_before = SampleEmbedding.objects.filter(project=project).count()
    assert 0 < written_before < 1500, "the worker must die part-way"

    # The rerun: the same service the task calls, as a redelivered task would.
    rerun_wrote = embeddings_compute(project_id=project.pk)
    assert rerun_wrote == 1500 - written_before
    assert SampleEmbedding.objects.filter(project=project).count() == 1500
    assert SampleEmbedding.objects.filter(project=project).values("sample").distinct().count() == 1500
