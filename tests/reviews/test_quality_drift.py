"""Quality checks cover every scope, over time: imported generators raise alerts,
each snapshot is compared with the previous window and the real anchors, the
figures repeat for one state of the data, and scheduled checks are claimed once.

Vectors are written straight into the embedding store (8-d unit vectors), so
every Fréchet distance below is worked by hand: identical vectors have no
spread, and two sets of identical vectors lie ||a - b||² apart.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from generation.models import Sample
from reviews.models import Alert, QualitySnapshot, SnapshotScope
from reviews.services import quality_snapshots as snapshots_module
from reviews.services.embeddings import embedding_key, embeddings_store
from reviews.services.quality_checks import quality_check_run, quality_checks_claim_due, quality_checks_dispatch
from reviews.services.quality_snapshots import quality_snapshots_compute
from synthreview.projects.models import Project
from tests.reviews.review_helpers import add_samples, body, generator, group

pytestmark = pytest.mark.django_db

DIMENSION = 8


def _unit(axis: int) -> np.ndarray:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[axis] = 1.0
    return vector


def _embed(project: Project, samples: list[Sample], vectors: np.ndarray) -> None:
    model_name, text_kind = embedding_key(project)
    embeddings_store(
        project_id=project.pk,
        sample_ids=[s.pk for s in samples],
        vectors=np.asarray(vectors, dtype=np.float32),
        model_name=model_name,
        text_kind=text_kind,
    )


def _recompute(client, project: Project, capture) -> None:
    """The lead presses Recompute on the dashboard; the worker's task runs inline."""
    with capture(execute=True):
        response = client.post(reverse("quality_recompute", args=[project.slug]))
    assert response.status_code == 302


def _latest(project: Project, scope: str, scope_id: int | None) -> QualitySnapshot:
    return (
        QualitySnapshot.objects.filter(project=project, scope=scope, scope_id=scope_id)
        .order_by("-computed_at", "-id")
        .first()
    )


# --- Generator scope ------------------------------------------------------------------------------------------------


def test_an_imported_generator_over_a_limit_raises_its_own_alert(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    """Imports have no run. Real anchors answer in 3 words; "steady" (40 samples) does too,
    "rambler" (5 samples) writes 50. Length KS: rambler 1.0 (every length above every real one);
    all synthetic 5/45 = 0.111, under the 0.25 limit. Only the generator's own figure shows it."""
    add_samples(project, 10, origin="real", texts=[("q", "one two three")] * 10)
    add_samples(project, 40, gen=generator(project, "steady"), texts=[("q", "four five six")] * 40)
    rambler = generator(project, "rambler")
    add_samples(project, 5, gen=rambler, texts=[("q", " ".join(["word"] * 50))] * 5)
    client = client_for(lead)

    _recompute(client, project, django_capture_on_commit_callbacks)

    assert _latest(project, SnapshotScope.PROJECT, None).metrics["length_distance"] == pytest.approx(5 / 45)
    alert = Alert.objects.get(project=project, metric="length_distance")
    assert alert.scope_key == f"generator:{rambler.pk}"
    assert alert.value == pytest.approx(1.0)
    page = body(client.get(reverse("dashboard", args=[project.slug])))
    assert "for generator “rambler” is 1.000, above the limit of 0.250" in page


# --- Honest names ---------------------------------------------------------------------------------------------------


def test_the_duplicate_share_says_what_it_counts_and_is_split_by_what_is_repeated(project, lead, client_for):
    """Ten samples of "alpha" and ten of "beta". Group 1: alpha[0], alpha[1] (alpha repeating itself).
    Group 2: alpha[2] with beta[0] (across generators). Group 3: beta[1] with a real sample."""
    real = add_samples(project, 1, origin="real")
    alpha = add_samples(project, 10, gen=generator(project, "alpha"))
    beta = add_samples(project, 10, gen=generator(project, "beta"))
    group(project, [alpha[0], alpha[1]])
    group(project, [alpha[2], beta[0]])
    group(project, [beta[1], real[0]])
    figures = {s.scope_label: s.metrics for s in quality_snapshots_compute(project_id=project.pk)}

    # In any group: alpha 3 of 10; beta 2 of 10; all synthetic 5 of 20.
    assert figures["alpha"]["duplicate_share"] == pytest.approx(0.3)
    assert figures["beta"]["duplicate_share"] == pytest.approx(0.2)
    assert figures["All synthetic samples"]["duplicate_share"] == pytest.approx(0.25)
    # Repeats within the scope: alpha's own pair only (2 of 10); beta none; across all synthetic samples,
    # both synthetic pairs (4 of 20), never the one with a real sample.
    assert figures["alpha"]["duplicate_within_share"] == pytest.approx(0.2)
    assert figures["beta"]["duplicate_within_share"] == pytest.approx(0.0)
    assert figures["All synthetic samples"]["duplicate_within_share"] == pytest.approx(0.2)
    # Duplicates of real samples: beta[1] only.
    assert figures["beta"]["duplicate_real_share"] == pytest.approx(0.1)
    assert figures["All synthetic samples"]["duplicate_real_share"] == pytest.approx(0.05)

    settings_page = body(client_for(lead).get(reverse("alert_settings", args=[project.slug])))
    assert "Share of synthetic samples in near-duplicate groups" not in settings_page
    assert "with any other sample: of the same generator, of another generator, or real" in settings_page


# --- Drift over time ------------------------------------------------------------------------------------------------


def test_each_snapshot_is_compared_with_the_previous_window_and_the_real_anchors(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    importer = generator(project, "importer")
    real = add_samples(project, 5, origin="real")
    _embed(project, real, [_unit(0)] * 5)
    first = add_samples(project, 30, gen=importer)
    _embed(project, first, [_unit(0)] * 30)
    client = client_for(lead)
    _recompute(client, project, django_capture_on_commit_callbacks)
    before = _latest(project, SnapshotScope.GENERATOR, importer.pk).metrics
    # The first window holds everything so far and has nothing before it to compare with.
    assert before["drift_window"] == {"from_id": 0, "through_id": first[-1].pk, "samples": 30, "previous": None}
    assert before["drift_previous"] is None
    # Thirty copies of e0 against five real copies of e0: the same point, no spread.
    assert before["window_to_real"] == pytest.approx(0.0, abs=1e-9)
    assert not Alert.objects.filter(project=project, metric__startswith="drift").exists()

    # The next thirty arrive pointing along e1: ||e0 - e1||² = 2, and neither window spreads.
    second = add_samples(project, 30, gen=importer)
    _embed(project, second, [_unit(1)] * 30)
    _recompute(client, project, django_capture_on_commit_callbacks)
    after = _latest(project, SnapshotScope.GENERATOR, importer.pk).metrics
    assert after["drift_window"] == {
        "from_id": first[-1].pk,
        "through_id": second[-1].pk,
        "samples": 30,
        "previous": {"from_id": 0, "through_id": first[-1].pk, "samples": 30},
    }
    assert after["drift_previous"] == pytest.approx(2.0, abs=1e-6)
    assert after["window_to_real"] == pytest.approx(2.0, abs=1e-6)
    assert after["drift_to_real_rise"] == pytest.approx(2.0, abs=1e-6)
    assert _latest(project, SnapshotScope.PROJECT, None).metrics["drift_previous"] == pytest.approx(2.0, abs=1e-6)
    # No runs at all, so the per-run figure has nothing to say; the window figures alert for every scope.
    assert _latest(project, SnapshotScope.PROJECT, None).metrics["drift"] is None
    assert set(Alert.objects.filter(project=project, metric="drift_previous").values_list("scope_key", flat=True)) == {
        "project:0",
        f"generator:{importer.pk}",
    }
    assert Alert.objects.filter(project=project, metric="drift_to_real_rise").count() == 2

    # Five more are too few to measure: the window stays open and keeps its comparison.
    third = add_samples(project, 5, gen=importer)
    _embed(project, third, [_unit(1)] * 5)
    _recompute(client, project, django_capture_on_commit_callbacks)
    latest = _latest(project, SnapshotScope.GENERATOR, importer.pk).metrics
    assert latest["drift_window"]["from_id"] == first[-1].pk
    assert latest["drift_window"]["samples"] == 35
    assert latest["drift_window"]["previous"]["through_id"] == first[-1].pk
    assert latest["drift_previous"] == pytest.approx(2.0, abs=1e-6)

    page = body(client.get(reverse("dashboard", args=[project.slug])))
    assert 'data-testid="drift-chart"' in page
    assert "Drift from the previous window (Fréchet distance, embeddings) for generator “importer” is 2.000" in page


# --- Repeatable figures ---------------------------------------------------------------------------------------------


def test_one_state_of_the_data_gives_one_set_of_figures(project, monkeypatch):
    """Flipping many samples' status and back moves their rows (PostgreSQL writes a new row
    version after the others), so an unordered query returns them in another order."""
    monkeypatch.setattr(snapshots_module, "SUBSET_ROWS", 40)
    rng = np.random.default_rng(7)

    def spread(count: int) -> np.ndarray:
        vectors = rng.normal(size=(count, DIMENSION))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    real = add_samples(project, 60, origin="real")
    _embed(project, real, spread(60))
    synthetic = add_samples(
        project, 200, gen=generator(project, "wide"), texts=[("q", " ".join(["w"] * (1 + i % 17))) for i in range(200)]
    )
    _embed(project, synthetic, spread(200))

    if connection.vendor == "postgresql":
        # As autovacuum would: with statistics the planner reads the table in its physical order.
        connection.cursor().execute("ANALYZE generation_sample")
    first = {(s.scope, s.scope_id): s.metrics for s in quality_snapshots_compute(project_id=project.pk)}
    flipped = [s.pk for s in synthetic[::2]] + [s.pk for s in real[::3]]
    Sample.objects.filter(pk__in=flipped).update(status="accepted")
    Sample.objects.filter(pk__in=flipped).update(status="pending")
    second = {(s.scope, s.scope_id): s.metrics for s in quality_snapshots_compute(project_id=project.pk)}

    assert first[("project", None)]["subset"] == 40, "the subset is drawn, not every sample"
    assert first[("project", None)]["fidelity_precision"] is not None
    assert second == first


# --- Scheduled checks -----------------------------------------------------------------------------------------------


def test_a_due_project_is_claimed_once_however_many_dispatchers_run(project, other_project):
    now = timezone.now()
    Project.objects.filter(pk=project.pk).update(quality_check_schedule="minute", quality_check_last_at=None)
    Project.objects.filter(pk=other_project.pk).update(quality_check_schedule="off", quality_check_last_at=None)

    assert quality_checks_claim_due(now=now) == [(project.pk, now)]
    assert quality_checks_claim_due(now=now) == [], "a second beat at the same moment claims nothing"
    assert quality_checks_claim_due(now=now + timedelta(seconds=30)) == []
    later = now + timedelta(minutes=1)
    assert quality_checks_claim_due(now=later) == [(project.pk, later)]
    assert Project.objects.get(pk=project.pk).quality_check_last_at == later
    assert Project.objects.get(pk=other_project.pk).quality_check_last_at is None, "off is never checked"


@pytest.mark.parametrize(
    ("schedule", "age", "due"),
    [
        ("daily", timedelta(hours=23), False),
        ("daily", timedelta(hours=25), True),
        ("weekly", timedelta(days=6), False),
        ("weekly", timedelta(days=7, minutes=1), True),
        ("monthly", timedelta(days=29), False),
        ("monthly", timedelta(days=31), True),
    ],
)
def test_each_schedule_is_due_after_its_interval(project, schedule, age, due):
    now = timezone.now()
    Project.objects.filter(pk=project.pk).update(quality_check_schedule=schedule, quality_check_last_at=now - age)
    assert bool(quality_checks_claim_due(now=now)) is due


def test_the_dispatcher_runs_the_check_and_a_redelivered_check_measures_nothing(
    project, run_tasks_inline, django_capture_on_commit_callbacks
):
    Project.objects.filter(pk=project.pk).update(quality_check_schedule="minute", quality_check_last_at=None)
    add_samples(project, 3, origin="real", texts=[("q", "one two three")] * 3)
    add_samples(project, 3, gen=generator(project, "rambler"), texts=[("q", " ".join(["word"] * 40))] * 3)

    with django_capture_on_commit_callbacks(execute=True):
        assert quality_checks_dispatch() == 1
    passes = set(QualitySnapshot.objects.filter(project=project).values_list("computed_at", flat=True))
    assert len(passes) == 1
    assert Alert.objects.filter(project=project, metric="length_distance").count() == 2  # project and generator
    claimed_at = Project.objects.get(pk=project.pk).quality_check_last_at
    assert quality_check_run(project_id=project.pk, claimed_at=claimed_at) is False
    assert QualitySnapshot.objects.filter(project=project).values("computed_at").distinct().count() == 1
