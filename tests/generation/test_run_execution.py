"""Executing runs against the OpenAI-compatible test server, in this process."""

from __future__ import annotations

import json

import pytest

from generation.models import GenerationRun, RunItem, Sample, SampleFlag
from generation.runs.plan import ConstraintMix, GridCell
from generation.services.runs import RunSpec, run_create, run_execute, run_resume
from generation.services.templates import template_version_create
from tests.generation.run_helpers import openai_generator, setup_access, topic_template

pytestmark = pytest.mark.django_db(transaction=False)

TOPICS = [
    "tea",
    "[[status:429x2]] rivers",
    "[[status:500x99]] bridges",
    "[[finish:length]] owls",
    "[[empty]] clocks",
    "[[malformed]] maps",
]


def _spec(project, generators, version, *, rows, temperatures=(0.2, 0.9), name="grid", constraints=""):
    return RunSpec(
        project=project,
        name=name,
        template_version=version,
        generators=generators,
        cells=[GridCell(t, None, None) for t in temperatures],
        table_rows=[{"topic": t} for t in rows],
        constraints=ConstraintMix.parse(constraints),
        seed=5,
    )


def _launch(spec, django_capture_on_commit_callbacks):
    # The worker's task is not run here: the test executes the run itself.
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(spec.project), spec=spec)
    return run


def test_every_item_of_a_grid_run_ends_done_or_failed_with_its_reason(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    a = openai_generator(project, "a", llm_server.base_url)
    b = openai_generator(project, "b", llm_server.base_url)
    run = _launch(_spec(project, [a, b], version, rows=TOPICS), django_capture_on_commit_callbacks)
    assert run.items_total == 6 * 2 * 2

    run = run_execute(run_id=run.pk)

    items = RunItem.objects.filter(run=run)
    assert items.count() == 24
    assert set(items.values_list("status", flat=True)) == {"done", "failed"}
    failed = items.filter(status="failed")
    # 500 every time (4 attempts each), and a malformed body (not retried): 2 rows × 2 generators × 2 temperatures.
    assert failed.count() == 8
    assert {i.attempts for i in failed if "bridges" in i.prompt} == {4}
    assert all("HTTP 500" in i.error for i in failed if "bridges" in i.prompt)
    assert {i.attempts for i in failed if "maps" in i.prompt} == {1}
    assert all("malformed" in i.error for i in failed if "maps" in i.prompt)
    # Two 429s, then an answer: three attempts for each of the 4 items of that row.
    assert {i.attempts for i in items.filter(status="done") if "rivers" in i.prompt} == {3}
    # 4 rows answer for each of 4 (generator, temperature) cells. The empty answers are the same text
    # for both temperatures of a generator, so each generator keeps one empty sample, not two.
    assert run.status == "completed" and run.items_done == 16 and run.items_failed == 8
    assert Sample.objects.filter(run=run).count() == run.samples_created == 14
    assert items.filter(duplicate=True).count() == 2
    # The server saw 429s and 500s and answered every done item.
    statuses = llm_server.requests.by_status
    assert statuses[429] == 4 * 2 and statuses[500] == 4 * 4


def test_flags_are_raised_in_the_same_write_as_the_samples(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    gen = openai_generator(project, "a", llm_server.base_url)
    rows = ["tea", "[[finish:length]] owls", "[[empty]] clocks", "[[refuse]] locks", "[[repeat]] bells"]
    run = run_execute(
        run_id=_launch(
            _spec(project, [gen], version, rows=rows, temperatures=(0.5,)), django_capture_on_commit_callbacks
        ).pk
    )
    flags = {
        (flag.sample.input.split("about ")[1].split(".")[0], flag.check_name)
        for flag in SampleFlag.objects.filter(sample__run=run).select_related("sample")
    }
    assert ("[[finish:length]] owls", "truncated") in flags
    assert ("[[empty]] clocks", "empty") in flags
    assert ("[[refuse]] locks", "refusal") in flags
    assert ("[[repeat]] bells", "repetition") in flags
    assert not any(topic == "tea" for topic, _ in flags)
    finish = Sample.objects.get(run=run, input__contains="owls").metadata["finish_reason"]
    assert finish == "length"


def test_running_a_finished_run_again_calls_nothing_and_writes_nothing(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    gen = openai_generator(project, "a", llm_server.base_url)
    run = run_execute(
        run_id=_launch(
            _spec(project, [gen], version, rows=["tea", "milk", "[[status:500x99]] x"]),
            django_capture_on_commit_callbacks,
        ).pk
    )
    calls, samples = len(llm_server.requests), Sample.objects.filter(run=run).count()
    assert samples == 4

    run_execute(run_id=run.pk)
    assert len(llm_server.requests) == calls
    assert Sample.objects.filter(run=run).count() == samples

    # Retrying the failed items calls only them, and they fail again without being counted twice.
    with django_capture_on_commit_callbacks(execute=False):
        run_resume(setup_access(project), run=run, retry_failed=True)
    run = run_execute(run_id=run.pk)
    assert len(llm_server.requests) == calls + 2 * 4
    assert (run.items_done, run.items_failed, run.items_total) == (4, 2, 6)
    assert Sample.objects.filter(run=run).count() == samples


def test_items_already_done_are_skipped_when_a_run_resumes(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    """What a killed worker leaves behind: some items done and written, the rest pending."""
    version = topic_template(project)
    gen = openai_generator(project, "a", llm_server.base_url)
    run = _launch(
        _spec(project, [gen], version, rows=[f"topic {n}" for n in range(10)], temperatures=(0.3,)),
        django_capture_on_commit_callbacks,
    )
    from generation.services.run_lanes import lane_execute
    from generation.services.runs import run_prepare

    run_prepare(run_id=run.pk)
    held_back = list(RunItem.objects.filter(run=run).order_by("id").values_list("id", flat=True)[4:])
    # Hide six items from the first pass by marking them failed, then give them back as pending.
    RunItem.objects.filter(pk__in=held_back).update(status="failed")
    lane_execute(run_id=run.pk, generator_id=gen.pk)
    RunItem.objects.filter(pk__in=held_back).update(status="pending")
    assert len(llm_server.requests) == 4

    run = run_execute(run_id=run.pk)
    assert len(llm_server.requests) == 10
    assert Sample.objects.filter(run=run).count() == 10
    assert RunItem.objects.filter(run=run, status="done").count() == 10


def test_a_generator_whose_url_is_refused_fails_its_items_with_the_reason(
    project, llm_server, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = False
    version = topic_template(project)
    gen = openai_generator(project, "local", "http://127.0.0.2:9/v1")
    run = run_execute(
        run_id=_launch(
            _spec(project, [gen], version, rows=["tea", "milk"], temperatures=(0.3,)),
            django_capture_on_commit_callbacks,
        ).pk
    )
    assert run.status == "failed"
    errors = set(RunItem.objects.filter(run=run).values_list("error", flat=True))
    assert len(errors) == 1 and "loopback" in errors.pop()
    assert len(llm_server.requests) == 0


def test_samples_record_lineage_constraint_and_parameters(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    gen = openai_generator(project, "a", llm_server.base_url, max_tokens=64)
    spec = _spec(
        project,
        [gen],
        version,
        rows=["tea", "milk", "salt", "rice"],
        temperatures=(0.4,),
        constraints="length: short=1, long=1",
    )
    run = run_execute(run_id=_launch(spec, django_capture_on_commit_callbacks).pk)
    samples = list(Sample.objects.filter(run=run).order_by("id"))
    assert len(samples) == 4
    assert sorted(s.metadata["constraint"]["length"] for s in samples) == ["long", "long", "short", "short"]
    for sample in samples:
        assert sample.origin == "synthetic" and sample.generator == gen and sample.template_version == version
        assert sample.metadata["params"] == {"temperature": 0.4}
        wanted = "under 50 words" if sample.metadata["constraint"]["length"] == "short" else "150 to 400 words"
        assert wanted in sample.input
        assert sample.metadata["completion_tokens"] > 0
    run = GenerationRun.objects.get(pk=run.pk)
    assert run.completion_tokens == sum(s.metadata["completion_tokens"] for s in samples)


def test_a_generators_own_parameters_are_sent_and_the_grid_cell_overrides_them(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    gen = openai_generator(
        project,
        "a",
        llm_server.base_url,
        temperature=0.1,
        seed=7,
        parameters={"max_tokens": 40, "frequency_penalty": 0.5, "temperature": 1.5},
    )
    run_execute(
        run_id=_launch(
            _spec(project, [gen], version, rows=["tea"], temperatures=(0.9,)), django_capture_on_commit_callbacks
        ).pk
    )
    [request] = [record for record in llm_server.requests.records if record.path.endswith("/chat/completions")]
    sent = json.loads(request.body)
    # Free-form parameters go out; a named field beats them, and the run's grid beats both.
    assert sent["max_tokens"] == 40 and sent["frequency_penalty"] == 0.5
    assert sent["temperature"] == 0.9 and sent["seed"] == 7
    assert "top_p" not in sent


def test_a_tables_answer_column_is_the_known_answer_the_math_check_compares(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    version = template_version_create(
        setup_access(project), template_name="word-problems", text="{{ question }}", output_format="math"
    )
    gen = openai_generator(project, "a", llm_server.base_url)
    # The test server answers "The answer is 12." to [[math:12]].
    spec = RunSpec(
        project=project,
        name="math",
        template_version=version,
        generators=[gen],
        cells=[GridCell(0.5, None, None)],
        constraints=ConstraintMix(),
        table_rows=[
            {"question": "Three boxes of four pens. [[math:12]]", "answer": "12"},
            {"question": "Two bags of six pears. [[math:12]]", "answer": "14"},
        ],
    )
    run = run_execute(run_id=_launch(spec, django_capture_on_commit_callbacks).pk)
    flagged = {
        flag.sample.metadata["reference_answer"]: flag.reason
        for flag in SampleFlag.objects.filter(sample__run=run, check_name="math-answer").select_related("sample")
    }
    assert list(flagged) == ["14"]
    assert "12" in flagged["14"] and "14" in flagged["14"]
    assert Sample.objects.filter(run=run).count() == 2
