"""A real Celery worker process on Redis, against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def _require_redis_broker() -> str:
    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker.startswith("redis://"):
        pytest.fail("integration tests need CELERY_BROKER_URL=redis://…; run them through `make test`")
    return broker


@pytest.fixture
def celery_worker_process(transactional_db, tmp_path):
    """Start `celery worker` on the test database; stop it after the test."""
    _require_redis_broker()
    worker = start_worker(tmp_path / "worker.log")
    yield worker
    stop_worker(worker)


def start_worker(
    log_path: Path, *, beat_schedule: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """A `celery worker` process on the test database, once it says it is ready. With
    `beat_schedule`, Celery beat runs embedded in it (`-B`), keeping its state in that file."""
    db = connection.settings_dict
    database_url = f"postgresql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", **(env or {})}
    beat = ["-B", "-s", str(beat_schedule)] if beat_schedule is not None else []
    log = open(log_path, "w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "synthreview",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            *beat,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a test can SIGKILL the worker and all it started
    )
    log.close()  # the child has its own handle
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return worker


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


def wait_for(predicate, *, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")
