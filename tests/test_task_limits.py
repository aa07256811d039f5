"""Every Celery task of ours survives a kill and a hang: a time limit, capped retries, and a late ack."""

from __future__ import annotations

import pytest

from synthreview.celery import app

OUR_MODULES = ("generation.", "reviews.", "synthreview.")


@pytest.fixture(scope="module")
def our_tasks() -> dict:
    app.loader.import_default_modules()
    tasks = {name: task for name, task in app.tasks.items() if name.startswith(OUR_MODULES)}
    assert len(tasks) >= 10, sorted(tasks)  # autodiscovery found the tasks modules
    return tasks


def test_every_task_has_a_soft_and_a_hard_time_limit(our_tasks):
    missing = [name for name, task in our_tasks.items() if not (task.soft_time_limit and task.time_limit)]
    assert missing == []
    too_tight = [name for name, task in our_tasks.items() if task.soft_time_limit >= task.time_limit]
    assert too_tight == []


def test_every_task_caps_its_retries_and_acknowledges_late(our_tasks):
    assert [name for name, task in our_tasks.items() if task.max_retries is None] == []
    assert [name for name, task in our_tasks.items() if not task.acks_late] == []


def test_hard_limits_stay_below_the_redis_visibility_timeout(settings, our_tasks):
    """Past the visibility timeout Redis hands a running task to a second worker."""
    longest = max(task.time_limit for task in our_tasks.values())
    assert longest < 3600 and settings.TASK_HARD_LIMIT_GRACE_S < 600
