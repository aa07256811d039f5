"""A frozen eval set, the leak check and an export, each run by a real Celery worker
on Redis: the worker embeds with the real offline model, finds the train-side
near-duplicate of an eval sample, and the export it then writes holds it back.
A redelivered export task changes nothing."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from generation.models import Sample, SampleFlag, Split
from reviews.models import EvalLeak, EvalLeakCheck, Export, ExportStatus, LeakCheckStatus, LeakKind
from reviews.services.eval_sets import eval_set_version_create, eval_split_add
from reviews.services.exports import export_request
from reviews.tasks import export_task
from synthreview.projects.models import AuditLog
from tests.integration.conftest import wait_for
from tests.reviews.export_helpers import closed_run_audit, lead_access, synthetic_run
from tests.reviews.review_helpers import add_samples

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

EVAL_TEXT = (
    "What is the boiling point of water at sea level, in degrees Celsius?",
    "Water boils at 100 degrees Celsius at sea level.",
)
# The same question and answer, a word and a mark apart: a near-duplicate, not an exact copy.
NEAR_COPY = (
    "What is the boiling point of water at sea level in degrees Celsius?",
    "Water boils at 100 degrees Celsius at sea level!",
)
REAL_TRAIN = [
    ("How many legs does a spider have?", "Eight."),
    ("Translate 'good morning' into Spanish.", "Buenos días."),
    ("Name the largest planet in the solar system.", "Jupiter."),
]
RUN_SIZE = 50


def _synthetic_texts(count: int) -> list[tuple[str, str]]:
    """Arithmetic word problems, far from the eval question."""
    return [
        (f"Tom has {n} apples and buys {n + 3} more. How many apples does he have now?", f"He has {2 * n + 3} apples.")
        for n in range(1, count + 1)
    ]


def _export_state(export: Export) -> tuple:
    export.refresh_from_db()
    return (
        export.status,
        export.stage,
        export.sha256,
        export.size_bytes,
        export.rows_written,
        export.stored_path,
        export.file_name,
        export.started_at,
        export.finished_at,
        json.dumps(export.manifest, sort_keys=True),
        export.refusals,
        export.error,
    )


def test_worker_checks_leaks_and_exports_holding_back_the_near_duplicate(
    celery_worker_process, project, lead, tmp_path
):
    access = lead_access(project, lead)
    # The eval sample: real, accepted, in the eval split once the lead adds it.
    eval_sample = add_samples(project, 1, origin="real", status="accepted", texts=[EVAL_TEXT])[0]
    real_train = add_samples(project, len(REAL_TRAIN), origin="real", status="accepted", texts=REAL_TRAIN)
    # One run of synthetic samples, the near copy among them, audited so the audit gate holds.
    generation_run, synthetic = synthetic_run(
        project, "run-boil", RUN_SIZE, status="accepted", texts=_synthetic_texts(RUN_SIZE)
    )
    near = add_samples(
        project,
        1,
        gen=generation_run.generators.get(),
        run=generation_run,
        template_version=generation_run.template_version,
        status="accepted",
        texts=[NEAR_COPY],
    )[0]
    audit = closed_run_audit(project, lead, lead, generation_run, size=RUN_SIZE)

    # The lead freezes the eval set: its leak check goes to the worker, which embeds every sample first.
    assert eval_split_add(access, sample_ids=[eval_sample.pk]) == 1
    version = eval_set_version_create(access, note="boiling point")
    assert version.member_count == 1 and version.version == 1
    check = wait_for(
        lambda: EvalLeakCheck.objects.filter(
            version=version, status__in=[LeakCheckStatus.DONE, LeakCheckStatus.FAILED]
        ).first(),
        timeout=180,
        what="the worker's leak check",
    )
    assert check.status == LeakCheckStatus.DONE, check.error
    train_side = [*real_train, *synthetic, near]
    assert check.samples_checked == len(train_side)
    assert check.checked_through_id == max(s.pk for s in train_side)
    leak = EvalLeak.objects.get(version=version)
    assert (leak.sample_id, leak.eval_sample_id, leak.kind) == (near.pk, eval_sample.pk, LeakKind.NEAR)
    assert project.eval_leak_threshold <= leak.similarity < 1.0
    assert check.leaks_found == 1
    assert SampleFlag.objects.filter(sample=near, check_name="eval-leak").exists()

    # The export, asked for as the web page asks, is decided and written by the worker.
    export = export_request(access, format="jsonl", enqueue=True)
    assert export.eval_set_version_id == version.pk  # the latest version, unless another is named
    export = wait_for(
        lambda: Export.objects.filter(
            pk=export.pk, status__in=[ExportStatus.COMPLETED, ExportStatus.REFUSED, ExportStatus.FAILED]
        ).first(),
        timeout=180,
        what="the worker to finish the export",
    )
    assert export.status == ExportStatus.COMPLETED, (export.refusals, export.error)
    manifest = export.manifest

    # What the export should hold, counted here: the train side, less the near copy.
    expected_ids = sorted(s.pk for s in [*real_train, *synthetic])
    assert Sample.objects.filter(project=project, split=Split.EVAL).get().pk == eval_sample.pk
    assert manifest["held_back"]["eval_leak"] == 1
    assert manifest["held_back"]["eval_member"] == 0  # the eval sample is in the eval split, never train-side
    assert manifest["counts"]["total"] == len(expected_ids) == RUN_SIZE + len(REAL_TRAIN)
    assert manifest["counts"]["by_origin"] == {"real": len(REAL_TRAIN), "synthetic": RUN_SIZE}
    assert manifest["eval_set"]["version"] == 1 and manifest["eval_set"]["hash"] == version.content_hash
    assert manifest["eval_set"]["leak_check"]["leaks"] == 1
    assert [a["id"] for a in manifest["audits"]] == [audit.pk]

    path = Path(export.stored_path)
    assert path.is_file() and not path.with_name(path.name + ".partial").exists()
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == export.sha256 == manifest["file"]["sha256"]
    assert len(data) == export.size_bytes
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    assert [row["id"] for row in rows] == expected_ids
    assert near.pk not in {row["id"] for row in rows} and eval_sample.pk not in {row["id"] for row in rows}
    assert export.rows_written == len(rows)

    # A redelivered task for the finished export: the worker runs it, and nothing changes.
    before, stat, log_entries = _export_state(export), path.stat(), AuditLog.objects.count()
    redelivered = export_task.delay(export.pk)
    worker_log = tmp_path / "worker.log"
    wait_for(
        lambda: re.search(rf"export_task\[{re.escape(redelivered.id)}\] succeeded", worker_log.read_text()),
        timeout=60,
        what="the worker to run the redelivered task",
    )
    assert _export_state(export) == before
    assert path.read_bytes() == data
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == (stat.st_mtime_ns, stat.st_ino)
    assert AuditLog.objects.count() == log_entries
    assert Export.objects.filter(project=project).count() == 1
