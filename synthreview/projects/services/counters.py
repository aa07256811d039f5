"""The per-project sample counters, kept in step by every write of samples."""

from __future__ import annotations

from django.db.models import F

from synthreview.projects.models import SampleCount


def sample_count_add(*, project_id: int, origin: str, status: str, delta: int) -> None:
    """Keep the per-project counters in step with a write of samples; call it
    inside the same transaction as the write."""
    if delta == 0:
        return
    updated = SampleCount.objects.filter(project_id=project_id, origin=origin, status=status).update(
        count=F("count") + delta
    )
    if not updated:
        SampleCount.objects.get_or_create(project_id=project_id, origin=origin, status=status)
        SampleCount.objects.filter(project_id=project_id, origin=origin, status=status).update(count=F("count") + delta)
