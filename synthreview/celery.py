from __future__ import annotations

import os
from typing import TYPE_CHECKING

from celery import Celery
from celery.signals import worker_ready

if TYPE_CHECKING:
    from celery.worker.consumer import Consumer

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synthreview.settings")

app = Celery("synthreview")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _ensure_filesystem_broker_folders(sender: Celery, **kwargs: object) -> None:
    # kombu's filesystem transport does not create its folders itself.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)


@worker_ready.connect
def _resume_orphaned_runs(sender: Consumer, **kwargs: object) -> None:
    # A worker killed mid-run leaves its lanes pending (and its broker message
    # unacknowledged for up to the visibility timeout); the next worker to start
    # picks them up once their leases lapse.
    sender.app.send_task("generation.tasks.runs_resume_orphaned_task")
