"""The leak check: a train-side sample, synthetic or real, with the same content
as an eval sample or a near-duplicate of one (cosine at or above the project's
threshold, on the app's real offline embeddings) is flagged and held back."""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings

from generation.models import Sample, SampleFlag
from reviews.models import EvalLeak, SampleEmbedding
from reviews.services.eval_sets import eval_set_version_create, eval_split_add, eval_split_remove
from tests.reviews.export_helpers import exported, jsonl_rows, lead_access
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db

OVERRIDE = "Leak-check test: the generator's audit is not what is tested here."

EVAL_TEXTS = [
    ("What is the boiling point of water at sea level in degrees Celsius?", "100 degrees Celsius."),
    ("A train travels 60 miles in 1.5 hours. What is its average speed?", "40 miles per hour."),
    ("Name the largest planet in the solar system.", "Jupiter."),
]
NEAR_SYNTHETIC = ("A train covers 60 miles in 1.5 hours. What is its average speed?", "40 miles per hour.")
NEAR_REAL = ("Name the biggest planet in the solar system.", "Jupiter.")
UNRELATED = [
    ("Translate 'good morning' into Spanish.", "Buenos días."),
    ("How many legs does a spider have?", "Eight."),
]


def _vectors(project, samples) -> dict[int, np.ndarray]:
    rows = SampleEmbedding.objects.filter(
        sample__in=samples, model_name=settings.EMBEDDING_MODEL, text_kind=project.embedding_text
    ).values_list("sample_id", "vector")
    return {pk: np.frombuffer(bytes(vector), dtype=np.float32) for pk, vector in rows}


def _nearest_eval_similarity(project, train_side, members) -> dict[int, float]:
    """Cosine of each train-side sample to its nearest eval member, from the stored vectors, by plain numpy."""
    vectors = _vectors(project, [*train_side, *members])
    assert len(vectors) == len(train_side) + len(members), "every sample should have been embedded"
    matrix = np.stack([vectors[m.pk] for m in members])
    return {s.pk: float(np.max(matrix @ vectors[s.pk])) for s in train_side}


@pytest.fixture
def leak_setup(project, lead):
    """Three frozen eval members; beside them an exact copy, two near-duplicates and two unrelated samples."""
    gen = generator(project, "gen-a")
    members = add_samples(project, 3, origin="real", status="accepted", texts=EVAL_TEXTS)
    exact = add_samples(project, 1, gen=gen, status="accepted", texts=[EVAL_TEXTS[0]])[0]
    Sample.objects.filter(pk=exact.pk).update(content_hash=members[0].content_hash)
    near_synthetic = add_samples(project, 1, gen=gen, status="accepted", texts=[NEAR_SYNTHETIC])[0]
    near_real = add_samples(project, 1, origin="real", status="accepted", texts=[NEAR_REAL])[0]
    unrelated = [
        add_samples(project, 1, gen=gen, status="accepted", texts=[UNRELATED[0]])[0],
        add_samples(project, 1, origin="real", status="accepted", texts=[UNRELATED[1]])[0],
    ]
    eval_split_add(lead_access(project, lead), sample_ids=[m.pk for m in members])
    version = eval_set_version_create(lead_access(project, lead))
    return {
        "members": members,
        "exact": exact,
        "near": [near_synthetic, near_real],
        "unrelated": unrelated,
        "version": version,
    }


def test_exact_and_near_duplicates_of_eval_samples_are_held_back_and_flagged(project, lead, leak_setup):
    members, exact, near, unrelated = (leak_setup[k] for k in ("members", "exact", "near", "unrelated"))
    train_side = [exact, *near, *unrelated]
    export = exported(project, lead, audit_override_reason=OVERRIDE)
    assert export.status == "completed", export.refusals

    similarity = _nearest_eval_similarity(project, train_side, members)
    threshold = project.eval_leak_threshold
    # The test data is what it claims to be, by the stored vectors themselves.
    assert all(similarity[s.pk] >= threshold for s in near), similarity
    assert all(similarity[s.pk] < threshold for s in unrelated), similarity
    expected_leaks = {s.pk for s in train_side if similarity[s.pk] >= threshold} | {exact.pk}
    assert expected_leaks == {exact.pk, near[0].pk, near[1].pk}

    assert export.manifest["held_back"]["eval_leak"] == len(expected_leaks)
    assert set(EvalLeak.objects.filter(version=leak_setup["version"]).values_list("sample_id", flat=True)) == (
        expected_leaks
    )
    assert EvalLeak.objects.get(sample=exact).kind == "exact"
    assert {leak.kind for leak in EvalLeak.objects.filter(sample__in=near)} == {"near"}
    assert (
        set(SampleFlag.objects.filter(project=project, check_name="eval-leak").values_list("sample_id", flat=True))
        == expected_leaks
    )
    assert f"eval sample {members[0].pk}" in SampleFlag.objects.get(sample=exact, check_name="eval-leak").reason

    exported_ids = {row["id"] for row in jsonl_rows(export.stored_path)}
    assert exported_ids == {s.pk for s in unrelated}
    check = export.manifest["eval_set"]["leak_check"]
    assert check["threshold"] == threshold and check["leaks"] == len(expected_leaks)


def test_the_threshold_is_the_projects_setting(project, lead, leak_setup):
    members, exact, near, unrelated = (leak_setup[k] for k in ("members", "exact", "near", "unrelated"))
    first = exported(project, lead, audit_override_reason=OVERRIDE)
    similarity = _nearest_eval_similarity(project, [*near, *unrelated], members)
    # Raised just above both near-duplicates: only the exact copy is a leak now.
    project.eval_leak_threshold = round(max(similarity[s.pk] for s in near) + 0.005, 4)
    assert project.eval_leak_threshold < 1
    project.save()
    second = exported(project, lead, audit_override_reason=OVERRIDE)
    assert first.manifest["held_back"]["eval_leak"] == 3
    assert second.manifest["held_back"]["eval_leak"] == 1
    assert second.manifest["eval_set"]["leak_check"]["threshold"] == project.eval_leak_threshold
    assert {row["id"] for row in jsonl_rows(second.stored_path)} == {s.pk for s in [*near, *unrelated]}
    assert list(SampleFlag.objects.filter(check_name="eval-leak").values_list("sample_id", flat=True)) == [exact.pk]


def test_a_near_duplicate_arriving_after_a_check_is_caught_by_the_next_export(project, lead, leak_setup):
    first = exported(project, lead, audit_override_reason=OVERRIDE)
    late = add_samples(
        project,
        1,
        gen=generator(project, "gen-a"),
        status="accepted",
        texts=[("What is the boiling point of water at sea level, in degrees Celsius?", "100 degrees Celsius.")],
    )[0]
    second = exported(project, lead, audit_override_reason=OVERRIDE)
    similarity = _nearest_eval_similarity(project, [late], leak_setup["members"])[late.pk]
    assert similarity >= project.eval_leak_threshold
    assert second.manifest["held_back"]["eval_leak"] == first.manifest["held_back"]["eval_leak"] + 1
    assert late.pk not in {row["id"] for row in jsonl_rows(second.stored_path)}
    assert SampleFlag.objects.filter(sample=late, check_name="eval-leak").exists()


def test_a_member_moved_out_of_the_eval_split_stays_out_of_training(project, lead, leak_setup):
    moved = leak_setup["members"][2]
    eval_split_remove(lead_access(project, lead), sample_ids=[moved.pk])
    export = exported(project, lead, audit_override_reason=OVERRIDE)
    assert export.manifest["held_back"]["eval_member"] == 1
    assert moved.pk not in {row["id"] for row in jsonl_rows(export.stored_path)}


def test_a_sample_without_a_vector_yet_is_held_back_unchecked_until_checked(project, lead, leak_setup, monkeypatch):
    exported(project, lead, audit_override_reason=OVERRIDE)
    late = add_samples(
        project,
        1,
        origin="real",
        status="accepted",
        texts=[("Which gas do plants absorb from the air?", "Carbon dioxide.")],
    )[0]
    # The encoder is busy elsewhere: the late sample has no vector when this export checks for leaks.
    monkeypatch.setattr("reviews.services.embeddings.embeddings_compute", lambda **kwargs: 0)
    unchecked = exported(project, lead, audit_override_reason=OVERRIDE)
    assert unchecked.manifest["held_back"]["leak_unchecked"] == 1
    assert late.pk not in {row["id"] for row in jsonl_rows(unchecked.stored_path)}
    monkeypatch.undo()
    checked = exported(project, lead, audit_override_reason=OVERRIDE)
    assert checked.manifest["held_back"]["leak_unchecked"] == 0
    assert checked.manifest["held_back"]["eval_leak"] == unchecked.manifest["held_back"]["eval_leak"]
    assert late.pk in {row["id"] for row in jsonl_rows(checked.stored_path)}
