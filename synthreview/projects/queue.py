"""Background work that a service starts, sent by task name once the transaction commits.

Each app's `tasks.py` imports its services (a task takes ids and calls a service),
so a service that starts more work names the task instead of importing it: the
dependency runs one way, through the broker. The name is looked up in the Celery
registry at once, so a misspelt or removed task fails where it is enqueued (in
tests too), not later in a worker.
"""

from __future__ import annotations

from celery import current_app
from django.db import transaction


def enqueue_on_commit(task_name: str, *args: object) -> None:
    """Send `task_name` with `args` after the current transaction commits (at once outside one)."""
    if task_name not in current_app.tasks:
        # The web tier and the CLI import no tasks module themselves; Celery's
        # autodiscovery imports every app's tasks.py on this signal.
        current_app.loader.import_default_modules()
    task = current_app.tasks[task_name]
    transaction.on_commit(lambda: task.delay(*args))
