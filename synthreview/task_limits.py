"""Time limits for Celery tasks, read from settings (TASK_SOFT_LIMITS_S) when a tasks module loads."""

from __future__ import annotations

from typing import TypedDict

from django.conf import settings


class TaskLimits(TypedDict):
    soft_time_limit: int
    time_limit: int


def task_limits(kind: str) -> TaskLimits:
    """`soft_time_limit` and `time_limit` for `@shared_task(**task_limits("similarity"))`: the soft
    limit raises SoftTimeLimitExceeded in the task, so it can record why it stopped; the hard
    one kills it a grace later, if it did not."""
    soft = settings.TASK_SOFT_LIMITS_S[kind]
    return {"soft_time_limit": soft, "time_limit": soft + settings.TASK_HARD_LIMIT_GRACE_S}
