"""Scheduled quality checks: each project's snapshot, drift and alerts on the
schedule its policy sets, with nobody pressing a button.

Celery beat enqueues the dispatcher every tick (a minute by default); the
dispatcher claims each project that is due with a conditional UPDATE of
`quality_check_last_at`, so two beats (or two dispatchers running at once)
never start one project's check twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reviews.models import QualitySnapshot
from reviews.services.quality_snapshots import quality_snapshots_compute
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import Project, QualityCheckSchedule
from synthreview.projects.queue import enqueue_on_commit

# Monthly is 30 days: a check every calendar month would drift with month lengths for no gain.
SCHEDULE_INTERVALS: dict[str, timedelta] = {
    QualityCheckSchedule.MINUTE: timedelta(minutes=1),
    QualityCheckSchedule.DAILY: timedelta(days=1),
    QualityCheckSchedule.WEEKLY: timedelta(days=7),
    QualityCheckSchedule.MONTHLY: timedelta(days=30),
}
# A beat tick is not exact: a check due within this much of the tick runs on it, not a whole tick later.
TICK_SLACK = timedelta(seconds=5)


def _due(schedule: str, now: datetime) -> Q:
    interval = SCHEDULE_INTERVALS[schedule]
    return Q(quality_check_schedule=schedule) & (
        Q(quality_check_last_at__isnull=True) | Q(quality_check_last_at__lte=now - interval + TICK_SLACK)
    )


def quality_checks_claim_due(*, now: datetime | None = None) -> list[tuple[int, datetime]]:
    """Claim every project whose check is due; returns (project id, claim time) for each one claimed.
    A project another dispatcher claimed a moment ago no longer matches the UPDATE's condition."""
    now = now or timezone.now()
    due = Q()
    for schedule in SCHEDULE_INTERVALS:
        due |= _due(schedule, now)
    claimed = []
    for project_id, schedule in Project.objects.filter(due).order_by("id").values_list("id", "quality_check_schedule"):
        if Project.objects.filter(_due(schedule, now), pk=project_id).update(quality_check_last_at=now):
            claimed.append((project_id, now))
    return claimed


def quality_checks_dispatch() -> int:
    """Claim the due projects and enqueue a check for each once the claims commit."""
    with transaction.atomic():
        claimed = quality_checks_claim_due()
        for project_id, claimed_at in claimed:
            stamp = claimed_at.isoformat()
            enqueue_on_commit("reviews.tasks.quality_check_task", project_id, stamp)
    return len(claimed)


def quality_snapshot_request(access: ProjectAccess) -> None:
    """A lead's "recompute now": a worker measures the project once, off its schedule."""
    enqueue_on_commit("reviews.tasks.quality_snapshot_task", access.project.pk, timezone.now().isoformat())


def quality_check_run(*, project_id: int, claimed_at: datetime) -> bool:
    """Snapshot, drift and alerts for the project, unless a snapshot was already taken
    since the claim (a redelivered task). Returns whether it measured."""
    if QualitySnapshot.objects.filter(project_id=project_id, computed_at__gte=claimed_at).exists():
        return False
    if not Project.objects.filter(pk=project_id).exists():
        return False
    quality_snapshots_compute(project_id=project_id)
    return True
