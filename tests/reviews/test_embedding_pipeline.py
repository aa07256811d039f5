"""The embedding pipeline stores, for each sample, the vector the embedder returns for its text, once.

Run on SQLite and on PostgreSQL (see the README's test commands). The tests commit for real
(transaction=True): on PostgreSQL the vectors are then written by a second connection while the
next batch is encoded, which a test inside one transaction would never exercise."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from django.db import IntegrityError, connection

from generation.models import Sample
from reviews.models import SampleEmbedding, SimilarityJob, SimilarityJobKind
from reviews.services import embeddings
from reviews.services.embeddings import BoilerplateCache, embedding_key, embeddings_compute
from reviews.services.similarity_jobs import similarity_job_request
from reviews.similarity.embedder import encode
from reviews.similarity.text import embedding_text
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db(transaction=True)

# Two texts per encoder batch, so four per read: a project of a few dozen samples takes several batches.
BATCH_SIZE = 2
READ_SIZE = BATCH_SIZE * 4


def _stored(project) -> dict[int, np.ndarray]:
    rows = SampleEmbedding.objects.filter(project=project).values_list("sample_id", "vector")
    stored: dict[int, np.ndarray] = {}
    for sample_id, vector in rows:
        assert sample_id not in stored, f"sample {sample_id} has two vectors"
        stored[sample_id] = np.frombuffer(bytes(vector), dtype=np.float32)
    return stored


def _text_of(sample: Sample) -> str:
    _, kind = embedding_key(sample.project)
    return embedding_text(
        input_text=sample.input,
        output_text=sample.output,
        kind=kind,
        boilerplate=BoilerplateCache().get(sample.template_version_id),
    )


def _vector_for(text: str) -> np.ndarray:
    """A stand-in model: a unit vector that only this text gets."""
    rng = np.random.default_rng(list(text.encode()))
    vector = rng.standard_normal(16).astype(np.float32)
    return vector / np.linalg.norm(vector)


def _stand_in(on_call=lambda number, texts: None, seen: list[str] | None = None):
    calls = 0

    def stand_in_encode(texts: list[str], **_: object) -> np.ndarray:
        nonlocal calls
        calls += 1
        if seen is not None:
            seen.extend(texts)
        on_call(calls, texts)
        return np.stack([_vector_for(text) for text in texts])

    return stand_in_encode


@pytest.fixture
def expert_samples(project, shared_data: Path) -> list[Sample]:
    """14 real expert-written tasks, the first one twice (two samples, one text)."""
    path = shared_data / "self_instruct_user_oriented" / "user_oriented_instructions.jsonl"
    tasks = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[:14]]
    texts = [(task["instruction"], task["instances"][0]["output"]) for task in tasks]
    return add_samples(project, len(texts) + 1, origin="real", texts=[texts[0], *texts])


def test_each_sample_is_stored_with_the_vector_the_embedder_returns_for_its_text(project, expert_samples):
    reported: list[tuple[int, int]] = []

    written = embeddings_compute(project_id=project.pk, batch_size=BATCH_SIZE, progress=lambda *p: reported.append(p))

    stored = _stored(project)
    assert written == len(stored) == len(expert_samples) == 15
    # Each sample's text encoded on its own, in another batch than the pipeline's (whose batch can shift
    # the last digits): each stored vector is its own text's, the nearest of all the texts'.
    texts = [_text_of(sample) for sample in expert_samples]
    alone = np.stack([encode([text])[0] for text in texts])
    similarity = np.stack([stored[sample.pk] for sample in expert_samples]) @ alone.T
    for row, text in enumerate(texts):
        assert texts[int(np.argmax(similarity[row]))] == text, (
            f"sample {expert_samples[row].pk} holds another text's vector"
        )
        assert similarity[row, row] > 0.98  # an int8 backend's batches shift vectors more than fp32's
    first, twin = expert_samples[:2]
    assert np.array_equal(stored[first.pk], stored[twin.pk])
    assert float(stored[first.pk] @ stored[expert_samples[2].pk]) < 0.99
    assert reported[0] == (0, 15) and reported[-1] == (15, 15)
    assert [done for done, _ in reported] == sorted(done for done, _ in reported)


def test_a_stand_in_models_vectors_land_on_the_samples_whose_texts_it_was_given(project, monkeypatch):
    samples = add_samples(project, 50, texts=[(f"prompt {n}", f"reply {n * 7 % 50}") for n in range(50)])
    monkeypatch.setattr(embeddings, "encode", _stand_in())

    assert embeddings_compute(project_id=project.pk, batch_size=BATCH_SIZE) == 50

    stored = _stored(project)
    assert sorted(stored) == sorted(sample.pk for sample in samples)
    for sample in samples:
        np.testing.assert_array_equal(stored[sample.pk], _vector_for(_text_of(sample)))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite stores each batch in line")
def test_postgresql_stores_a_batch_while_the_next_one_is_encoded(project, monkeypatch):
    add_samples(project, 3 * READ_SIZE)
    stored_meanwhile: list[int] = []

    def wait_for_the_first_batch(number: int, texts: list[str]) -> None:
        if number == 2:
            # A writer in line would store batch 1 only after this returns: the wait would time out.
            deadline = time.monotonic() + 10
            while SampleEmbedding.objects.filter(project=project).count() < READ_SIZE and time.monotonic() < deadline:
                time.sleep(0.01)
            stored_meanwhile.append(SampleEmbedding.objects.filter(project=project).count())

    monkeypatch.setattr(embeddings, "encode", _stand_in(wait_for_the_first_batch))

    assert embeddings_compute(project_id=project.pk, batch_size=BATCH_SIZE) == 3 * READ_SIZE
    assert stored_meanwhile == [READ_SIZE]


def test_a_failed_write_fails_the_job_with_its_error_and_stores_no_part_of_that_batch(project, monkeypatch, settings):
    """The second batch's write fails for real: one of its samples is deleted while it is encoded,
    so its vector names a sample that no longer exists. The batch before it stays, whole."""
    from reviews.tasks import similarity_job_task

    samples = add_samples(project, 3 * READ_SIZE)
    deleted = samples[READ_SIZE + 1]

    def delete_one_of_the_second_batch(number: int, texts: list[str]) -> None:
        if number == 2:
            Sample.objects.filter(pk=deleted.pk).delete()

    monkeypatch.setattr(similarity_job_task, "delay", lambda job_id: None)
    monkeypatch.setattr(embeddings, "encode", _stand_in(delete_one_of_the_second_batch))
    job = similarity_job_request(project_id=project.pk, kind=SimilarityJobKind.EMBED)
    settings.EMBEDDING_BATCH_SIZE = BATCH_SIZE

    with pytest.raises(IntegrityError):
        similarity_job_task(job.pk)

    job = SimilarityJob.objects.get(pk=job.pk)
    assert job.status == "failed"
    assert job.error.startswith("IntegrityError")
    assert sorted(_stored(project)) == [sample.pk for sample in samples[:READ_SIZE]]

    seen: list[str] = []
    monkeypatch.setattr(embeddings, "encode", _stand_in(seen=seen))
    assert embeddings_compute(project_id=project.pk, batch_size=BATCH_SIZE) == 2 * READ_SIZE - 1
    rest = [sample for sample in samples[READ_SIZE:] if sample.pk != deleted.pk]
    assert sorted(seen) == sorted(_text_of(sample) for sample in rest)
    assert sorted(_stored(project)) == sorted(sample.pk for sample in samples if sample.pk != deleted.pk)


def test_a_run_stopped_part_way_keeps_what_it_encoded_and_the_rerun_embeds_only_the_rest(project, monkeypatch):
    samples = add_samples(project, 4 * READ_SIZE + 3)

    def stop_at_the_third_batch(number: int, texts: list[str]) -> None:
        if number == 3:
            raise TimeoutError("the worker's time is up")

    monkeypatch.setattr(embeddings, "encode", _stand_in(stop_at_the_third_batch))
    with pytest.raises(TimeoutError):
        embeddings_compute(project_id=project.pk, batch_size=BATCH_SIZE)
    assert sorted(_stored(project)) == [sample.pk for sample in samples[: 2 * READ_SIZE]]

    seen: list[str] = []
    reported: list[tuple[int, int]] = []
    monkeypatch.setattr(embeddings, "encode", _stand_in(seen=seen))
    written = embeddings_compute(project_id=project.pk, batch_size=BATCH_SIZE, progress=lambda *p: reported.append(p))

    assert written == 2 * READ_SIZE + 3
    assert sorted(seen) == sorted(_text_of(sample) for sample in samples[2 * READ_SIZE :])
    assert reported[0] == (0, written) and reported[-1] == (written, written)
    stored = _stored(project)
    assert sorted(stored) == sorted(sample.pk for sample in samples)
    for sample in samples:
        np.testing.assert_array_equal(stored[sample.pk], _vector_for(_text_of(sample)))


def test_a_vector_another_worker_stored_meanwhile_is_kept_and_not_doubled(project, monkeypatch):
    samples = add_samples(project, 3 * READ_SIZE)
    model_name, text_kind = embedding_key(project)
    theirs = np.full(16, 0.25, dtype=np.float32)
    taken = samples[READ_SIZE + 2]

    def another_worker_stores_one(number: int, texts: list[str]) -> None:
        if number == 2:
            embeddings.embeddings_store(
                project_id=project.pk,
                sample_ids=[taken.pk],
                vectors=theirs[None, :],
                model_name=model_name,
                text_kind=text_kind,
            )

    monkeypatch.setattr(embeddings, "encode", _stand_in(another_worker_stores_one))
    embeddings_compute(project_id=project.pk, batch_size=BATCH_SIZE)

    stored = _stored(project)
    assert sorted(stored) == sorted(sample.pk for sample in samples)
    np.testing.assert_array_equal(stored[taken.pk], theirs)
    for sample in samples:
        if sample.pk != taken.pk:
            np.testing.assert_array_equal(stored[sample.pk], _vector_for(_text_of(sample)))
