"""python manage.py generate RUN_ID: executes a run here with a progress bar, and
resumes a finished one without handing it to the workers as well."""

from __future__ import annotations

import io
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from generation.models import GenerationRun, RunItem, RunLane, Sample
from generation.runs.plan import GridCell
from generation.services.runs import RunSpec, run_create, run_prepare
from tests.generation.run_helpers import openai_generator, setup_access, topic_template

pytestmark = pytest.mark.django_db


def _run(project, base_url, topics, django_capture_on_commit_callbacks):
    generator = openai_generator(project, "a", base_url)
    spec = RunSpec(
        project=project,
        name="cli",
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(0.3, None, None), GridCell(0.8, None, None)],
        table_rows=[{"topic": topic} for topic in topics],
    )
    with django_capture_on_commit_callbacks(execute=False):
        return run_create(setup_access(spec.project), spec=spec)


def _generate(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("generate", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_generate_executes_the_run_and_draws_its_progress(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    run = _run(
        project, llm_server.base_url, ["tea", "milk", "[[status:500x99]] salt"], django_capture_on_commit_callbacks
    )

    out, err = _generate(str(run.pk))

    assert "6/6 items · 2 failed · 4 samples" in err and "[" + "#" * 40 + "]" in err
    assert f"run {run.pk} cli: completed; 4 done, 2 failed of 6; 4 samples" in out
    assert "retry them with --retry-failed" in out
    assert Sample.objects.filter(run=run).count() == 4


def test_retry_failed_redoes_only_the_failed_items_here_and_queues_nothing(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks, settings
):
    run = _run(project, llm_server.base_url, ["tea", "[[status:500x2]] salt"], django_capture_on_commit_callbacks)
    settings.GENERATION_MAX_ATTEMPTS = 2  # two 500s each: the salt items fail the first time, then answer
    _generate(str(run.pk))
    assert RunItem.objects.filter(run=run, status="failed").count() == 2
    done_before = set(RunItem.objects.filter(run=run, status="done").values_list("pk", "sample_id"))
    calls_before = llm_server.requests.count

    with django_capture_on_commit_callbacks(execute=False) as queued:
        out, _ = _generate(str(run.pk), "--retry-failed")

    # Nothing handed to the workers (the similarity refresh after new samples is queued as ever).
    assert not [callback for callback in queued if callback.__qualname__.startswith("run_resume")]
    assert "completed; 4 done, 0 failed of 4" in out
    assert done_before <= set(RunItem.objects.filter(run=run, status="done").values_list("pk", "sample_id"))
    assert llm_server.requests.count - calls_before == 2  # the two salt items, answered at last
    assert GenerationRun.objects.get(pk=run.pk).samples_created == Sample.objects.filter(run=run).count() == 4


def test_an_unknown_run_is_an_error():
    with pytest.raises(CommandError, match="no run with id 999999"):
        _generate("999999")


def test_generate_takes_over_a_lane_whose_worker_died(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    run = _run(project, llm_server.base_url, ["tea", "milk"], django_capture_on_commit_callbacks)
    run_prepare(run_id=run.pk)
    # A worker took the lane and died: its lease runs out in a second and a half.
    RunLane.objects.filter(run=run).update(owner="dead-worker", lease_until=timezone.now() + timedelta(seconds=1.5))
    GenerationRun.objects.filter(pk=run.pk).update(status="running")
    started = time.monotonic()

    out, _ = _generate(str(run.pk))

    assert f"run {run.pk} cli: completed; 4 done, 0 failed of 4" in out
    assert 1.4 < time.monotonic() - started < 15
    assert Sample.objects.filter(run=run).count() == 4
