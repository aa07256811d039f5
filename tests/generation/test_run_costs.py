"""Token counts, cost estimates and the retry backoff, worked out by hand."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from generation.models import RunItem
from generation.runs.limits import backoff_delay
from generation.runs.plan import GridCell
from generation.selectors.runs import run_lanes, run_totals
from generation.services.runs import RunSpec, run_create, run_execute, run_preview
from tests.generation.run_helpers import openai_generator, setup_access, topic_template

TOPICS = ["tea", "milk", "salt", "rice"]


def _spec(project, generator):
    # "Write three sentences about tea." is 32 characters: (32 + 3) // 4 = 8 tokens at four characters a token.
    return RunSpec(
        project=project,
        name="costs",
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(0.2, None, None), GridCell(0.9, None, None)],
        table_rows=[{"topic": topic} for topic in TOPICS],
    )


@pytest.mark.django_db
def test_the_preview_prices_every_prompt_and_the_generators_max_tokens(project, llm_server):
    generator = openai_generator(
        project,
        "priced",
        llm_server.base_url,
        max_tokens=100,
        cost_per_million_input_tokens=Decimal("0.15"),
        cost_per_million_output_tokens=Decimal("0.60"),
    )
    free = openai_generator(project, "unpriced", llm_server.base_url)
    spec = _spec(project, generator)
    spec.generators = [generator, free]

    preview = run_preview(spec)

    prompt_tokens_per_cell = sum((len(f"Write three sentences about {topic}.") + 3) // 4 for topic in TOPICS)
    assert prompt_tokens_per_cell == 8 + 9 + 9 + 9
    assert preview.item_count == 4 * 2 * 2
    assert preview.prompt_tokens == prompt_tokens_per_cell * 2 * 2
    expected = (0.15 * prompt_tokens_per_cell * 2 + 0.60 * 100 * 4 * 2) / 1e6
    assert dict(preview.cost_by_generator) == {"priced": pytest.approx(expected), "unpriced": None}


@pytest.mark.django_db
def test_a_runs_cost_comes_from_the_servers_token_counts(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    generator = openai_generator(
        project,
        "priced",
        llm_server.base_url,
        cost_per_million_input_tokens=Decimal("2"),
        cost_per_million_output_tokens=Decimal("8"),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(project), spec=_spec(project, generator))
    run_execute(run_id=run.pk)

    # The test server counts words: the prompt's as prompt tokens, the answer's as completion tokens.
    items = list(RunItem.objects.filter(run=run).select_related("sample"))
    prompt_words = sum(len(item.prompt.split()) for item in items)
    answer_words = sum(len(item.sample.output.split()) for item in items)
    totals = run_totals(run, run_lanes(run))
    assert (totals.prompt_tokens, totals.completion_tokens) == (prompt_words, answer_words)
    assert totals.cost == pytest.approx((2 * prompt_words + 8 * answer_words) / 1e6)


def test_backoff_doubles_from_its_base_with_jitter_and_never_passes_the_cap(settings):
    settings.GENERATION_BACKOFF_BASE_S = 1.0
    settings.GENERATION_BACKOFF_CAP_S = 8.0
    random.seed(11)
    for attempt, nominal in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (12, 8)]:
        delays = [backoff_delay(attempt, None) for _ in range(200)]
        assert min(delays) >= 0.75 * nominal and max(delays) <= min(8.0, 1.25 * nominal)
        assert max(delays) - min(delays) > 0.1 * nominal  # jittered, not in step


def test_a_servers_retry_after_is_honoured_up_to_the_cap(settings):
    settings.GENERATION_BACKOFF_BASE_S = 0.5
    settings.GENERATION_BACKOFF_CAP_S = 8.0
    assert backoff_delay(1, 5.0) == 5.0
    assert backoff_delay(1, 100.0) == 8.0
