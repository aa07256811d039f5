"""A scheduled drift check through a real worker with Celery beat embedded (`-B`),
as scripts/demo.sh runs it: with a project's schedule set to a minute, an alert
appears without anyone pressing a button, and a project whose checks are off is
left alone.

The beat ticks every 5 seconds here (QUALITY_CHECK_TICK_SECONDS) instead of the
default 60, so the test waits seconds, not a minute; the project's own schedule
still decides when its check is due.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from reviews.models import Alert, QualitySnapshot
from reviews.services.embeddings import embedding_key, embeddings_store
from reviews.services.quality_snapshots import quality_snapshots_compute
from synthreview.projects.models import Project
from tests.integration.conftest import _require_redis_broker, start_worker, stop_worker, wait_for
from tests.reviews.review_helpers import add_samples, generator

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _along(axis: int, count: int) -> np.ndarray:
    vectors = np.zeros((count, 8), dtype=np.float32)
    vectors[:, axis] = 1.0
    return vectors


def _imported(project: Project, count: int, axis: int, origin: str = "synthetic") -> None:
    samples = add_samples(
        project, count, origin=origin, gen=generator(project, "importer") if origin == "synthetic" else None
    )
    model_name, text_kind = embedding_key(project)
    embeddings_store(
        project_id=project.pk,
        sample_ids=[s.pk for s in samples],
        vectors=_along(axis, count),
        model_name=model_name,
        text_kind=text_kind,
    )


def _dispatches(log) -> int:
    return sum(
        1 for line in log.read_text().splitlines() if "quality_checks_dispatch_task" in line and "succeeded" in line
    )


def test_a_scheduled_check_raises_a_drift_alert_with_nobody_pressing_a_button(project, other_project, tmp_path):
    _require_redis_broker()
    for one in (project, other_project):
        # Last month's check saw thirty imported samples along e0, like the real anchors.
        _imported(one, 5, 0, origin="real")
        _imported(one, 30, 0)
        quality_snapshots_compute(project_id=one.pk)
        # Since then thirty more arrived along e1: ||e0 - e1||² = 2, far over the 0.25 limit.
        _imported(one, 30, 1)
    month_ago = timezone.now() - timedelta(days=31)
    Project.objects.filter(pk=project.pk).update(quality_check_schedule="minute", quality_check_last_at=month_ago)
    Project.objects.filter(pk=other_project.pk).update(quality_check_schedule="off", quality_check_last_at=month_ago)
    assert not Alert.objects.filter(metric="drift_previous").exists()

    log = tmp_path / "worker.log"
    worker = start_worker(log, beat_schedule=tmp_path / "celerybeat-schedule", env={"QUALITY_CHECK_TICK_SECONDS": "5"})
    try:
        alert = wait_for(
            lambda: Alert.objects.filter(
                project=project, metric="drift_previous", scope_key__startswith="generator:"
            ).first(),
            timeout=90,
            what="the scheduled check's drift alert",
        )
        # Let beat tick twice more: the project was claimed for this minute, so nothing runs again.
        ticks = _dispatches(log)
        wait_for(lambda: _dispatches(log) >= ticks + 2, timeout=30, what="two more beat ticks")
    finally:
        stop_worker(worker)

    assert "importer" in alert.message and alert.value == pytest.approx(2.0, abs=1e-4)
    assert QualitySnapshot.objects.filter(project=project).values("computed_at").distinct().count() == 2
    assert QualitySnapshot.objects.filter(project=other_project).values("computed_at").distinct().count() == 1
    assert not Alert.objects.filter(project=other_project, metric="drift_previous").exists()
    assert Project.objects.get(pk=project.pk).quality_check_last_at > month_ago
