"""The full build's bulk path (COPY reads and writes on PostgreSQL, chunked ORM on SQLite) against
the same results computed here with numpy alone; an increment against a full build; a build
killed part way and run again."""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings

from generation.models import Generator, Sample
from reviews.models import DuplicateGroup, SampleEmbedding, SampleSimilarity
from reviews.services import similarity_io
from reviews.services.embeddings import embeddings_load
from reviews.services.similarity_build import similarity_build
from reviews.services.similarity_io import sample_facts_load, vectors_load

pytestmark = pytest.mark.django_db
DIMENSION = 24


def _add(project, vectors, *, origins, statuses, hashes, generators=None, start=0) -> list[int]:
    """Samples with these vectors; copies of one content need generators of their own."""
    names = generators or ["g"] * len(vectors)
    by_name = {
        name: Generator.objects.get_or_create(project=project, name=name, kind="imported")[0] for name in set(names)
    }
    samples = Sample.objects.bulk_create(
        [
            Sample(
                project=project,
                origin=origin,
                generator=None if origin == "real" else by_name[name],
                input=f"in {''.join('abcdefghij'[int(d)] for d in str(start + n))}",
                output="out",
                status=status,
                content_hash=digest,
            )
            for n, (origin, status, digest, name) in enumerate(zip(origins, statuses, hashes, names))
        ]
    )
    unit = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=sample,
                project=project,
                model_name=settings.EMBEDDING_MODEL,
                text_kind=project.embedding_text,
                vector=vector.tobytes(),
            )
            for sample, vector in zip(samples, unit)
        ]
    )
    return [sample.pk for sample in samples]


def _project_data(project, count=80, seed=7):
    """Real, accepted and pending samples in loose topics, two near-duplicate pairs, and one
    content repeated three times (an exact set, with identical vectors)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, DIMENSION))
    vectors = centres[rng.integers(6, size=count)] + 0.9 * rng.standard_normal((count, DIMENSION))
    vectors[11] = vectors[10] + 0.02 * rng.standard_normal(DIMENSION)
    vectors[31] = vectors[30] + 0.02 * rng.standard_normal(DIMENSION)
    vectors[41] = vectors[40]
    vectors[42] = vectors[40]
    origins = ["real" if n % 7 == 0 else "synthetic" for n in range(count)]
    statuses = ["accepted" if n % 5 == 1 else "pending" for n in range(count)]
    hashes = [f"{n:064x}" for n in range(count)]
    hashes[41] = hashes[42] = hashes[40]
    origins[41] = origins[42] = origins[40] = "synthetic"
    generators = ["g"] * count
    generators[41], generators[42] = "g1", "g2"
    ids = _add(project, vectors, origins=origins, statuses=statuses, hashes=hashes, generators=generators)
    return ids, vectors


def _expected(project):
    """Neighbours, top similarity, nearest real and novelty by brute force over every stored vector."""
    rows = list(
        SampleEmbedding.objects.filter(project=project)
        .order_by("sample_id")
        .values_list("sample_id", "vector", "sample__origin", "sample__status")
    )
    ids = np.array([r[0] for r in rows])
    matrix = np.stack([np.frombuffer(bytes(r[1]), dtype=np.float32) for r in rows]).astype(np.float64)
    real = np.array([r[2] == "real" for r in rows])
    accepted = np.array([r[3] == "accepted" for r in rows])
    sims = matrix @ matrix.T
    np.fill_diagonal(sims, -np.inf)
    k = project.similarity_top_k
    expected = {}
    for row, sample_id in enumerate(ids.tolist()):
        order = np.argsort(-sims[row], kind="stable")[:k]
        real_sims = np.where(real, sims[row], -np.inf)
        nearest_real = int(np.argmax(real_sims))
        candidates = [real_sims[nearest_real]] + [sims[row, n] for n in order if accepted[n]]
        expected[sample_id] = {
            "neighbour_ids": ids[order].tolist(),
            "neighbour_sims": sims[row, order].tolist(),
            "nearest_real": int(ids[nearest_real]),
            "nearest_real_similarity": float(real_sims[nearest_real]),
            "novelty": 1.0 - max(candidates),
        }
    return expected


def _assert_row_matches(row: SampleSimilarity, want: dict) -> None:
    got_ids = [entry[0] for entry in row.neighbours]
    got_sims = [entry[1] for entry in row.neighbours]
    assert got_sims == pytest.approx(want["neighbour_sims"], abs=2e-5)
    # Identical vectors tie, also at the k-th place: the samples above the last similarity must agree.
    floor = want["neighbour_sims"][-1] + 1e-4
    assert {i for i, s in zip(got_ids, got_sims) if s > floor} == {
        i for i, s in zip(want["neighbour_ids"], want["neighbour_sims"]) if s > floor
    }
    assert row.top_similarity == pytest.approx(want["neighbour_sims"][0], abs=2e-5)
    assert row.nearest_real_similarity == pytest.approx(want["nearest_real_similarity"], abs=2e-5)
    assert row.novelty == pytest.approx(want["novelty"], abs=2e-5)


def _exact_sets(project) -> set[frozenset[int]]:
    return {
        frozenset(group.members.values_list("sample_id", flat=True))
        for group in DuplicateGroup.objects.filter(project=project, kind="exact")
    }


def test_bulk_reads_return_what_the_orm_reads(project):
    ids, _ = _project_data(project)
    key = {"model_name": settings.EMBEDDING_MODEL, "text_kind": project.embedding_text}
    got_ids, got_vectors = vectors_load(project_id=project.pk, **key, after_id=ids[9])
    want_ids, want_vectors = embeddings_load(project_id=project.pk, **key, after_id=ids[9])
    assert got_ids.tolist() == want_ids.tolist() == ids[10:]
    assert np.array_equal(got_vectors, want_vectors)
    facts = sample_facts_load(project_id=project.pk)
    assert facts.ids.tolist() == ids
    assert facts.real.tolist() == [n % 7 == 0 and n not in (40, 41, 42) for n in range(len(ids))]
    assert facts.accepted.tolist() == [n % 5 == 1 for n in range(len(ids))]
    generators = Sample.objects.filter(project=project).order_by("id").values_list("generator_id", flat=True)
    assert facts.generator.tolist() == [pk or 0 for pk in generators]
    assert len(set(facts.generator.tolist())) == 4  # none, g, g1, g2


def test_full_build_equals_brute_force_numpy(project):
    ids, _ = _project_data(project)
    summary = similarity_build(project_id=project.pk, full=True)
    assert summary.samples == len(ids)
    rows = {row.sample_id: row for row in SampleSimilarity.objects.filter(project=project)}
    expected = _expected(project)
    assert set(rows) == set(expected)
    for sample_id, want in expected.items():
        _assert_row_matches(rows[sample_id], want)
        # The nearest real sample is never the sample itself.
        assert rows[sample_id].nearest_real_id != sample_id
    assert rows[ids[10]].neighbours[0][0] == ids[11]
    assert _exact_sets(project) == {frozenset(ids[40:43])}
    near = {
        frozenset(group.members.values_list("sample_id", flat=True))
        for group in DuplicateGroup.objects.filter(project=project, kind="near")
    }
    assert {frozenset(ids[10:12]), frozenset(ids[30:32])} <= near


def test_increment_equals_a_full_build_on_the_samples_it_touches(project):
    ids, vectors = _project_data(project)
    assert similarity_build(project_id=project.pk).mode == "full"
    rng = np.random.default_rng(11)
    # A near twin of one old sample, a real sample, an exact copy of the exact set, and a new
    # exact pair of an old sample that had no copy yet.
    new_vectors = np.stack(
        [vectors[20] + 0.02 * rng.standard_normal(DIMENSION), rng.standard_normal(DIMENSION), vectors[40], vectors[50]]
    )
    old_hash = Sample.objects.get(pk=ids[40]).content_hash
    copied_hash = Sample.objects.get(pk=ids[50]).content_hash
    new_ids = _add(
        project,
        new_vectors,
        origins=["synthetic", "real", "synthetic", "synthetic"],
        statuses=["pending"] * 4,
        hashes=["f" * 64, "e" * 64, old_hash, copied_hash],
        generators=["g", "g", "g3", "g1"],
        start=1000,
    )
    summary = similarity_build(project_id=project.pk)
    assert summary.mode == "incremental" and summary.added == 4
    incremental = {row.sample_id: row for row in SampleSimilarity.objects.filter(project=project)}
    exact_after_increment = _exact_sets(project)

    similarity_build(project_id=project.pk, full=True)
    full = {row.sample_id: row for row in SampleSimilarity.objects.filter(project=project)}
    touched = set(new_ids) | {entry[0] for sample_id in new_ids for entry in full[sample_id].neighbours}
    for sample_id in touched:
        inc, ful = incremental[sample_id], full[sample_id]
        assert [e[1] for e in inc.neighbours] == pytest.approx([e[1] for e in ful.neighbours], abs=2e-5)
        assert inc.nearest_real_id == ful.nearest_real_id, sample_id
        assert inc.novelty == pytest.approx(ful.novelty, abs=2e-5)
    assert incremental[ids[20]].neighbours[0][0] == new_ids[0]
    assert (
        exact_after_increment
        == _exact_sets(project)
        == {
            frozenset([*ids[40:43], new_ids[2]]),
            frozenset([ids[50], new_ids[3]]),
        }
    )
    # The smaller set the copy joined is gone, not left beside the larger one.
    assert not DuplicateGroup.objects.filter(project=project, kind="exact", size=3).exists()


def test_a_build_killed_while_writing_loses_and_doubles_nothing_when_run_again(project, monkeypatch):
    ids, _ = _project_data(project)
    monkeypatch.setattr(similarity_io, "WRITE_CHUNK", 16)
    monkeypatch.setattr(similarity_io, "COPY_WRITE_CHUNK", 16)
    real_similarity_row, real_copy_text = similarity_io._similarity_row, similarity_io._copy_text
    calls = {"rows": 0, "chunks": 0}

    def dies_after_two_chunks_of_rows(project_id, scores, row):
        calls["rows"] += 1
        if calls["rows"] > 32:
            raise KeyboardInterrupt("worker killed")
        return real_similarity_row(project_id, scores, row)

    def dies_after_two_chunks_of_text(scores, start, stop):
        calls["chunks"] += 1
        if calls["chunks"] > 2:
            raise KeyboardInterrupt("worker killed")
        return real_copy_text(scores, start, stop)

    monkeypatch.setattr(similarity_io, "_similarity_row", dies_after_two_chunks_of_rows)
    monkeypatch.setattr(similarity_io, "_copy_text", dies_after_two_chunks_of_text)
    with pytest.raises(KeyboardInterrupt):
        similarity_build(project_id=project.pk, full=True)
    written = SampleSimilarity.objects.filter(project=project).count()
    # SQLite commits each chunk; PostgreSQL's one INSERT never ran.
    assert written in (0, 32)

    monkeypatch.setattr(similarity_io, "_similarity_row", real_similarity_row)
    monkeypatch.setattr(similarity_io, "_copy_text", real_copy_text)
    # The index was saved before the kill: the rerun must see the missing scores and build in full.
    assert similarity_build(project_id=project.pk).mode == "full"
    rows = {row.sample_id: row for row in SampleSimilarity.objects.filter(project=project)}
    assert SampleSimilarity.objects.filter(project=project).count() == len(ids) == len(rows)
    for sample_id, want in _expected(project).items():
        _assert_row_matches(rows[sample_id], want)
