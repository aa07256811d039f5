"""Few-shot seeds and lineage: real seeds by default, synthetic seeds only when a
lead allows them, and then one generation deeper than the deepest seed."""

from __future__ import annotations

import pytest

from generation.models import Sample
from generation.runs.plan import GridCell, PlanError
from generation.services.runs import RunSpec, run_create, run_execute, run_plan_rows
from tests.generation.run_helpers import openai_generator, setup_access, topic_template
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db

SHOTS_TEMPLATE = "Examples:\n{{ examples }}\nNow write one more."


def _spec(project, generator, version, **fields):
    return RunSpec(
        project=project,
        name=fields.pop("name", "shots"),
        template_version=version,
        generators=[generator],
        cells=[GridCell(0.5, None, None)],
        **fields,
    )


def test_seeds_are_real_samples_unless_synthetic_ones_are_allowed(project, llm_server):
    real = {s.pk for s in add_samples(project, 3, origin="real")}
    add_samples(project, 5, origin="synthetic", generation_depth=2)
    generator = openai_generator(project, "a", llm_server.base_url)
    rows = run_plan_rows(
        _spec(project, generator, topic_template(project, SHOTS_TEMPLATE), fewshot_per_item=2, fewshot_items=30, seed=1)
    )
    assert {seed for row in rows for seed in row["seed_sample_ids"]} <= real
    assert {row["generation_depth"] for row in rows} == {0}


def test_a_synthetic_seed_makes_the_item_one_deeper_than_its_deepest_seed(
    project, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    add_samples(project, 1, origin="real", texts=[("real question", "real answer")])
    add_samples(project, 1, origin="synthetic", generation_depth=0, texts=[("depth0 question", "d0")])
    add_samples(project, 1, origin="synthetic", generation_depth=2, texts=[("depth2 question", "d2")])
    generator = openai_generator(project, "a", llm_server.base_url)
    spec = _spec(
        project,
        generator,
        topic_template(project, SHOTS_TEMPLATE),
        fewshot_per_item=2,
        fewshot_items=12,
        fewshot_allow_synthetic=True,
        seed=3,
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(spec.project), spec=spec)
    run_execute(run_id=run.pk)

    samples = list(Sample.objects.filter(run=run))
    assert samples
    for sample in samples:
        # Worked out from the prompt the sample was made from: which seeds it shows.
        if "depth2 question" in sample.input:
            expected = 3
        elif "depth0 question" in sample.input:
            expected = 1
        else:
            expected = 0
        assert sample.generation_depth == expected, sample.input
    assert {s.generation_depth for s in samples} >= {1, 3}


def test_few_shot_without_an_examples_placeholder_is_refused(project, llm_server):
    add_samples(project, 3, origin="real")
    generator = openai_generator(project, "a", llm_server.base_url)
    spec = _spec(project, generator, topic_template(project), table_rows=[{"topic": "tea"}], fewshot_per_item=2)
    with pytest.raises(PlanError, match=r"no \{\{ examples \}\} placeholder"):
        run_plan_rows(spec)


@pytest.mark.parametrize("column", ["examples", "constraint"])
def test_a_table_column_the_run_fills_itself_is_refused(project, llm_server, column):
    generator = openai_generator(project, "a", llm_server.base_url)
    spec = _spec(project, generator, topic_template(project), table_rows=[{"topic": "tea", column: "mine"}])
    with pytest.raises(PlanError, match=f"a column named {column}"):
        run_plan_rows(spec)
