"""Generation runs executed by real Celery workers on Redis against the
OpenAI-compatible test server: every item accounted for, and a worker killed
mid-run loses and duplicates nothing once the run resumes."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from django.db.models import Count

from generation.models import GenerationRun, RunItem, Sample, SampleFlag
from generation.runs.plan import ConstraintMix, GridCell
from generation.services.runs import RunSpec, run_create
from tests.generation.run_helpers import openai_generator, setup_access, topic_template
from tests.integration.conftest import start_worker, stop_worker, wait_for
from tests.llm_server import start_llm_server

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _launch(project, generators, rows, temperatures=(0.3,), name="run"):
    version = topic_template(project)
    spec = RunSpec(
        project=project,
        name=name,
        template_version=version,
        generators=generators,
        cells=[GridCell(t, None, None) for t in temperatures],
        table_rows=[{"topic": t} for t in rows],
        constraints=ConstraintMix.parse("length: short, long"),
        seed=1,
    )
    return run_create(setup_access(project), spec=spec)


def test_a_run_through_a_worker_accounts_for_every_item(generation_worker_env, celery_worker_process, project):
    rows = [
        "tea",
        "[[status:429x1]] rivers",
        "[[status:503x9]] bridges",
        "[[finish:length]] owls",
        "[[malformed:nochoices]] maps",
        "[[empty]] clocks",
        "salt",
        "rice",
        "[[status:500x1]] ponds",
        "[[slow:3000]] stones",
        "[[malformed]] roads",
    ]
    with start_llm_server() as server:
        a = openai_generator(project, "a", server.base_url, concurrency=3, request_timeout_s=1)
        b = openai_generator(project, "b", server.base_url, concurrency=2, request_timeout_s=1)
        run = _launch(project, [a, b], rows, temperatures=(0.2, 0.8))

        run = wait_for(
            lambda: GenerationRun.objects.filter(pk=run.pk, status="completed").first(),
            timeout=90,
            what="the worker to finish the run",
        )

    statuses = Counter(RunItem.objects.filter(run=run).values_list("status", flat=True))
    # 11 rows × 2 generators × 2 temperatures. Four rows fail on every try or at once: 503 (3 attempts),
    # a body without choices, an HTML body, and an answer slower than the 1 s timeout (3 attempts).
    assert statuses == {"done": 28, "failed": 16}
    assert (run.items_total, run.items_done, run.items_failed) == (44, 28, 16)
    failed = RunItem.objects.filter(run=run, status="failed")
    errors = Counter(e.split(" after")[0] for e in failed.values_list("error", flat=True))
    assert errors == {
        "HTTP 503 (service unavailable)": 4,
        "malformed response: no choices": 4,
        "malformed response: not JSON": 4,
        "timed out": 4,
    }
    assert {item.attempts for item in failed if "stones" in item.prompt} == {3}
    # One 500 each, then an answer: two attempts.
    assert {item.attempts for item in RunItem.objects.filter(run=run, prompt__contains="ponds")} == {2}
    # Empty answers repeat across temperatures: one sample per generator for those two items.
    assert Sample.objects.filter(run=run).count() == run.samples_created == 28 - 2
    flagged = set(SampleFlag.objects.filter(sample__run=run).values_list("check_name", flat=True))
    assert {"truncated", "empty"} <= flagged


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    generation_worker_env, transactional_db, project, tmp_path
):
    rows = [f"topic number {n}" for n in range(60)]
    with start_llm_server(latency_ms=120) as server:
        generator = openai_generator(project, "slow", server.base_url, concurrency=2, request_timeout_s=2)
        first = start_worker(tmp_path / "first.log")
        try:
            run = _launch(project, [generator], rows)
            wait_for(
                lambda: RunItem.objects.filter(run=run, status="done").count() >= 10, timeout=60, what="ten items done"
            )
        finally:
            first.kill()  # SIGKILL: no cleanup, its lease and its broker message left behind
            first.wait()
        done_at_kill = RunItem.objects.filter(run=run, status="done").count()
        assert 10 <= done_at_kill < 60, "the kill came too late to test anything"
        assert GenerationRun.objects.get(pk=run.pk).status == "running"

        # A new worker resumes the orphaned run by itself once the dead worker's lease lapses.
        second = start_worker(tmp_path / "second.log")
        try:
            run = wait_for(
                lambda: GenerationRun.objects.filter(pk=run.pk, status="completed").first(),
                timeout=90,
                what="the second worker to finish the run",
            )
        finally:
            stop_worker(second)
        calls = len(server.requests)

    items = RunItem.objects.filter(run=run)
    assert items.count() == 60 and items.filter(status="done").count() == 60
    samples = Sample.objects.filter(run=run)
    assert samples.count() == 60 == run.samples_created
    # One sample per item, each item's own: none written twice, none missing.
    assert sorted(samples.values_list("metadata__item_index", flat=True)) == list(range(60))
    assert not samples.values("content_hash").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert set(items.values_list("sample_id", flat=True)) == set(samples.values_list("id", flat=True))
    # At most the calls in flight or waiting to be written when the worker died were made twice.
    assert 60 <= calls <= 60 + 2 * 2 + 64
    assert os.path.exists(tmp_path / "second.log")
