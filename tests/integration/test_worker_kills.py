"""Every task that writes survives a SIGKILL of its worker mid-job: another worker
finishes the job, nothing is lost, nothing is written twice, and the page shows
the job's true state.

Each kill repeats KILL_REPEATS times (1 by default, to keep CI short) and prints
one line, e.g. `KILL import: 1/1 recovered, lost=0, doubled=0`. The workers run
with a 3 s Redis visibility timeout, so a dead worker's message comes back in
seconds rather than an hour, and short leases and heartbeats for the same reason.
"""

# ruff: noqa: B023  (each poll's lambda runs within its own repeat, never after the loop moves on)
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.db.models import Count
from django.urls import reverse

from generation.models import GenerationRun, ImportBatch, RunItem, Sample
from reviews.models import (
    DuplicateGroup,
    Export,
    QualitySnapshot,
    SampleEmbedding,
    SampleSimilarity,
    SimilarityJob,
)
from reviews.services import similarity_refresh
from reviews.services.exports import export_request
from synthreview.progress import progress_get, progress_key
from synthreview.projects.models import Membership, Project, Role, SampleCount
from tests.conftest import TEST_TARGET_MODELS
from tests.generation.run_helpers import openai_generator
from tests.integration.conftest import start_worker, wait_for
from tests.integration.test_worker_generation import _launch
from tests.llm_server import start_llm_server
from tests.reviews.export_helpers import closed_run_audit, lead_access, synthetic_run
from tests.reviews.review_helpers import add_samples

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

KILL_REPEATS = int(os.environ.get("KILL_REPEATS", "1"))
WORKER_ENV = {
    "CELERY_VISIBILITY_TIMEOUT_S": "3",
    "SIMILARITY_JOB_STALE_S": "3",
    "GENERATION_LANE_LEASE_S": "2",
    "EMBEDDING_BATCH_SIZE": "16",
}


def _broker_emptied() -> None:
    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()


@pytest.fixture(autouse=True)
def _empty_broker():
    """No message left by an earlier test (for rows that no longer exist) keeps these workers busy."""
    _broker_emptied()


class Tally:
    def __init__(self, task: str) -> None:
        self.task, self.recovered, self.lost, self.doubled = task, 0, 0, 0
        # Kills that landed after the work was done but before its message was acknowledged.
        self.late_kills = 0

    def report(self) -> None:
        late = f", {self.late_kills} after the work was done" if self.late_kills else ""
        print(
            f"\nKILL {self.task}: {self.recovered}/{KILL_REPEATS} recovered, lost={self.lost}, "
            f"doubled={self.doubled}{late}"
        )


def _worker(tmp_path: Path, name: str, **env: str) -> subprocess.Popen:
    return start_worker(tmp_path / f"{name}.log", env={**WORKER_ENV, **env})


def _kill(worker: subprocess.Popen) -> None:
    """SIGKILL the worker's process group: no cleanup, its broker message left unacknowledged."""
    try:
        os.killpg(worker.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    worker.wait(timeout=10)


def _poll(predicate: Callable[[], object], *, timeout: float, what: str) -> object:
    """Like wait_for, but quick: a kill must land while the job is under way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _new_project(n: int, lead=None) -> Project:
    project = Project.objects.create(
        slug=f"kill-{n}-{time.monotonic_ns()}", name=f"Kill {n}", target_models=TEST_TARGET_MODELS
    )
    if lead is not None:
        Membership.objects.create(project=project, user=lead, role=Role.LEAD)
    return project


def test_import_survives_a_kill(lead, client_for, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the worker reads the upload from the path the web tier stored
    tally, rows = Tally("import"), 60_000
    client = client_for(lead)
    body = "".join(json.dumps({"instruction": f"Add {i} and {i}.", "response": str(2 * i)}) + "\n" for i in range(rows))
    for n in range(KILL_REPEATS):
        # What the last round's import queued after it (checks, embedding 60,000 samples) would
        # keep this round's worker from its import.
        _broker_emptied()
        project = _new_project(n, lead)
        first = _worker(tmp_path, f"import-{n}-a")
        try:
            response = client.post(
                reverse("import_new", args=[project.slug]),
                {"file": SimpleUploadedFile("sums.jsonl", body.encode()), "origin": "synthetic", "generator": "adder"},
            )
            batch = ImportBatch.objects.get(project=project)
            # Part-way: the worker has reported rows read, and the import has not committed.
            _poll(
                lambda: (
                    progress_get(progress_key("import", batch.pk))
                    or ImportBatch.objects.filter(pk=batch.pk).exclude(status="queued").exists()
                ),
                timeout=240,
                what="the import to start",
            )
        finally:
            _kill(first)
        assert ImportBatch.objects.get(pk=batch.pk).status == "queued", "the kill came too late"
        assert not Sample.objects.filter(project=project).exists()  # one transaction: nothing half-written

        second = _worker(tmp_path, f"import-{n}-b")
        try:
            batch = wait_for(
                lambda: ImportBatch.objects.filter(pk=batch.pk, status__in=["completed", "failed"]).first(),
                timeout=120,
                what="the second worker to import",
            )
        finally:
            _kill(second)
        samples = Sample.objects.filter(project=project)
        count, distinct = samples.count(), samples.values("content_hash").distinct().count()
        tally.lost += max(0, rows - distinct)
        tally.doubled += count - distinct
        assert batch.status == "completed", batch.errors
        assert count == distinct == batch.rows_imported == rows
        assert SampleCount.objects.get(project=project, origin="synthetic", status="pending").count == rows
        page = client.get(response["Location"]).content.decode()
        assert f"Imported {rows:,}, skipped 0 duplicates of {rows:,} rows read." in page
        tally.recovered += 1
    tally.report()


def _similarity_samples(project: Project, count: int) -> None:
    from generation.models import Generator

    generator = Generator.objects.create(project=project, name="g", kind="imported")
    Sample.objects.bulk_create(
        [
            Sample(
                project=project,
                origin="synthetic",
                generator=generator,
                input=f"Question {i}: how many apples are {i} apples and {i % 7} more?",
                output=f"There are {i + i % 7} apples. " * (1 + i % 4),
                content_hash=f"{i:064x}",
            )
            for i in range(count)
        ]
    )


def _job(project: Project, kind: str) -> SimilarityJob | None:
    return SimilarityJob.objects.filter(project=project, kind=kind).order_by("-pk").first()


def test_embed_build_and_quality_snapshot_survive_kills(lead, client_for, tmp_path):
    """One chain, three kills: mid-embedding, mid-build, and mid-snapshot; each time the next worker finishes."""
    embed, build, snapshot = Tally("embed"), Tally("similarity build"), Tally("quality snapshot")
    samples = 400
    client = client_for(lead)
    for n in range(KILL_REPEATS):
        _broker_emptied()  # no task left from the last round keeps this round's worker busy
        project = _new_project(n, lead)
        _similarity_samples(project, samples)
        first = _worker(tmp_path, f"sim-{n}-a")
        try:
            similarity_refresh(project_id=project.pk)
            _poll(
                lambda: SampleEmbedding.objects.filter(project=project).exists(),
                timeout=180,
                what="the first embeddings",
            )
        finally:
            _kill(first)
        at_kill = SampleEmbedding.objects.filter(project=project).count()
        assert 0 < at_kill < samples, "the kill came too late"
        assert _job(project, "embed").status == "running"

        # The second worker takes the dead one's embed job over, then builds; killed mid-build.
        second = _worker(tmp_path, f"sim-{n}-b")
        try:
            _poll(
                lambda: (job := _job(project, "build")) is not None and job.status == "running",
                timeout=240,
                what="the build to start",
            )
        finally:
            _kill(second)
        assert _job(project, "embed").status == "completed"
        embeddings = SampleEmbedding.objects.filter(project=project)
        embed.lost += samples - embeddings.values("sample").distinct().count()
        embed.doubled += embeddings.count() - embeddings.values("sample").distinct().count()
        assert embeddings.count() == embeddings.values("sample").distinct().count() == samples
        embed.recovered += 1
        assert _job(project, "build").status == "running", "the kill came too late"

        # The third takes the build over, then starts the snapshot; killed as it starts measuring.
        third = _worker(tmp_path, f"sim-{n}-c")
        try:
            wait_for(
                lambda: "quality_snapshot_task[" in (tmp_path / f"sim-{n}-c.log").read_text(),
                timeout=180,
                what="the snapshot task to be received",
            )
        finally:
            _kill(third)
        assert _job(project, "build").status == "completed", _job(project, "build").error
        scores = SampleSimilarity.objects.filter(project=project)
        build.lost += samples - scores.values("sample").distinct().count()
        build.doubled += scores.count() - scores.values("sample").distinct().count()
        assert scores.count() == scores.values("sample").distinct().count() == samples
        memberships = DuplicateGroup.objects.filter(project=project, kind="near").values_list(
            "members__sample", flat=True
        )
        assert len(memberships) == len(set(memberships)), "a sample in two near-duplicate groups"
        build.recovered += 1
        snapshots_at_kill = QualitySnapshot.objects.filter(project=project, scope="project").count()

        # The fourth measures: one snapshot, however many times the message is delivered.
        fourth = _worker(tmp_path, f"sim-{n}-d")
        try:
            wait_for(
                lambda: QualitySnapshot.objects.filter(project=project, scope="project").exists(),
                timeout=180,
                what="the snapshot",
            )
            time.sleep(5)  # past the visibility timeout: a redelivery would have measured again by now
        finally:
            _kill(fourth)
        taken = QualitySnapshot.objects.filter(project=project, scope="project").count()
        snapshot.lost += 0 if taken else 1
        snapshot.doubled += max(0, taken - 1)
        # A snapshot of 400 samples may finish before the kill lands; then the kill hits the
        # unacknowledged message, whose redelivery must measure nothing again. Either way: one.
        snapshot.late_kills += snapshots_at_kill
        assert taken == 1
        snapshot.recovered += 1

        page = client.get(reverse("similarity_view", args=[project.slug])).content.decode()
        assert 'class="status status-completed" data-testid="job-build"' in page
        assert 'class="status status-completed" data-testid="job-embed"' in page
        assert "status-running" not in page
    for tally in (embed, build, snapshot):
        tally.report()


def test_export_survives_a_kill(lead, client_for, tmp_path):
    tally, size = Tally("export"), 20_000
    client = client_for(lead)
    for n in range(KILL_REPEATS):
        _broker_emptied()  # no task left from the last round keeps this round's worker busy
        project = _new_project(n, lead)
        generation_run, made = synthetic_run(project, f"run-{n}", size, status="accepted")
        closed_run_audit(project, lead, lead, generation_run, size=50)
        first = _worker(tmp_path, f"export-{n}-a")
        try:
            export = export_request(lead_access(project, lead), format="jsonl", enqueue=True)
            # Claimed and under way: the file is written in well under a few seconds, so no finer point.
            _poll(
                lambda: Export.objects.filter(pk=export.pk, status="running").exists(),
                timeout=120,
                what="the export to start",
            )
        finally:
            _kill(first)
        assert Export.objects.get(pk=export.pk).status == "running", "the kill came too late"

        second = _worker(tmp_path, f"export-{n}-b")
        try:
            export = wait_for(
                lambda: Export.objects.filter(pk=export.pk, status__in=["completed", "refused", "failed"]).first(),
                timeout=120,
                what="the second worker to export",
            )
            time.sleep(4)  # a redelivery past the visibility timeout finds it finished and changes nothing
        finally:
            _kill(second)
        export.refresh_from_db()
        assert export.status == "completed", (export.refusals, export.error)
        ids = [json.loads(line)["id"] for line in Path(export.stored_path).read_text().splitlines()]
        tally.lost += len({s.pk for s in made} - set(ids))
        tally.doubled += len(ids) - len(set(ids))
        assert sorted(ids) == sorted(s.pk for s in made) and export.rows_written == size
        assert not list(Path(export.stored_path).parent.glob("*.partial"))
        page = client.get(reverse("export_detail", args=[project.slug, export.pk])).content.decode()
        assert 'data-status="completed"' in page
        tally.recovered += 1
    tally.report()


def test_a_generation_lane_survives_a_kill(generation_worker_env, lead, client_for, tmp_path):
    tally, items = Tally("generate"), 60
    client = client_for(lead)
    rows = [f"topic number {i}" for i in range(items)]
    with start_llm_server(latency_ms=120) as server:
        for n in range(KILL_REPEATS):
            _broker_emptied()  # no task left from the last round keeps this round's worker busy
            project = _new_project(n, lead)
            generator = openai_generator(project, "slow", server.base_url, concurrency=2, request_timeout_s=2)
            first = _worker(tmp_path, f"gen-{n}-a")
            try:
                run = _launch(project, [generator], rows)
                _poll(
                    lambda: RunItem.objects.filter(run=run, status="done").count() >= 10,
                    timeout=90,
                    what="ten items done",
                )
            finally:
                _kill(first)
            assert RunItem.objects.filter(run=run, status="done").count() < items, "the kill came too late"

            second = _worker(tmp_path, f"gen-{n}-b")
            try:
                run = wait_for(
                    lambda: GenerationRun.objects.filter(pk=run.pk, status="completed").first(),
                    timeout=120,
                    what="the second worker to finish the run",
                )
            finally:
                _kill(second)
            samples = Sample.objects.filter(run=run)
            indexes = list(samples.values_list("metadata__item_index", flat=True))
            tally.lost += items - len(set(indexes))
            tally.doubled += len(indexes) - len(set(indexes))
            assert sorted(indexes) == list(range(items)) == sorted(set(indexes))
            assert samples.count() == run.samples_created == items
            assert not samples.values("content_hash").annotate(c=Count("id")).filter(c__gt=1).exists()
            page = client.get(reverse("run_detail", args=[project.slug, run.pk])).content.decode()
            assert 'class="status status-completed" data-testid="run-state"' in page
            tally.recovered += 1
    tally.report()


def _worker_in_write_transaction() -> bool:
    """A session other than ours holds a transaction that has written (it has an xid)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
        )
        return bool(cursor.fetchone()[0])


def test_demo_audit_draw_survives_a_kill(lead, client_for, tmp_path):
    from generation.models import RunStatus
    from reviews.models import Audit, AuditItem, Verdict
    from reviews.tasks import demo_audits_task

    tally, runs, per_run = Tally("audit draw"), 3, 120
    client = client_for(lead)
    for n in range(KILL_REPEATS):
        _broker_emptied()  # no task left from the last round keeps this round's worker busy
        project = _new_project(n, lead)
        add_samples(project, 10, origin="real", status="accepted")
        for r in range(runs):
            generation_run, _ = synthetic_run(project, f"run-{r}", per_run, status="pending")
            GenerationRun.objects.filter(pk=generation_run.pk).update(status=RunStatus.COMPLETED)
        first = _worker(tmp_path, f"audit-{n}-a")
        try:
            demo_audits_task.delay(project.pk)
            _poll(_worker_in_write_transaction, timeout=120, what="the worker to start drawing")
        finally:
            _kill(first)
        assert not Audit.objects.filter(project=project).exists(), "the kill came too late"

        second = _worker(tmp_path, f"audit-{n}-b")
        try:
            wait_for(
                lambda: Audit.objects.filter(project=project).count() == runs + 1,
                timeout=120,
                what="the second worker to draw the audits",
            )
            time.sleep(4)  # a redelivery past the visibility timeout finds the audits and draws none
        finally:
            _kill(second)
        audits = Audit.objects.filter(project=project)
        items = AuditItem.objects.filter(audit__project=project)
        distinct_items = items.values("audit", "sample").distinct().count()
        tally.lost += max(0, runs + 1 - audits.count())
        tally.doubled += max(0, audits.count() - (runs + 1)) + items.count() - distinct_items
        assert audits.count() == runs + 1 and items.count() == distinct_items
        assert audits.filter(status="closed").count() == runs
        closed_items = items.filter(audit__status="closed").count()
        assert closed_items >= runs * 60 and Verdict.objects.filter(audit__project=project).count() == closed_items
        page = client.get(reverse("audit_list", args=[project.slug])).content.decode()
        assert page.count("(answer key)") == runs
        tally.recovered += 1
    tally.report()
