"""The recursion guard cannot pass what it cannot check: a generator that runs a model
(an endpoint, or an import made elsewhere) but names none could be the target itself.
Programmatic generators run no model and pass. Model names may carry an Ollama-style
tag ("qwen2.5:1.5b"). Walked as a lead and an admin do: the export and policy pages."""

from __future__ import annotations

import pytest

from generation.models import Generator, GeneratorKind, Origin
from tests.reviews.review_helpers import add_samples
from tests.reviews.test_recursion_declared import _declare_on_the_policy_page, _export_through_the_page, _lineage

pytestmark = pytest.mark.django_db


def _generator(project, name: str, kind: str, model_name: str = "") -> Generator:
    return Generator.objects.create(project=project, name=name, kind=kind, model_name=model_name)


@pytest.mark.parametrize("kind", [GeneratorKind.OPENAI_COMPATIBLE, GeneratorKind.IMPORTED])
def test_an_export_holding_samples_of_a_generator_with_no_model_is_refused(
    kind, project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    add_samples(project, 3, origin=Origin.REAL, status="accepted")
    nameless = _generator(project, "endpoint-without-model", kind)
    add_samples(project, 4, gen=nameless, status="accepted")
    export, page = _export_through_the_page(project, lead, client_for, django_capture_on_commit_callbacks)
    assert export.status == "refused"
    reason = {r["gate"]: r["reason"] for r in export.refusals}["recursion"]
    assert "endpoint-without-model (4 samples)" in reason
    assert "Declare its model on the generator page" in reason
    assert "endpoint-without-model" in page
    # Once its model is declared, and unrelated to the target, the export passes.
    nameless.model_name = "mistral-7b-instruct"
    nameless.save(update_fields=["model_name"])
    export, _ = _export_through_the_page(project, lead, client_for, django_capture_on_commit_callbacks)
    assert export.status == "completed", export.refusals
    assert export.rows_written == 7


def test_a_programmatic_generator_runs_no_model_and_passes(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    rules = _generator(project, "arithmetic-rules", GeneratorKind.PROGRAMMATIC)
    add_samples(project, 2, origin=Origin.REAL, status="accepted")
    add_samples(project, 3, gen=rules, status="accepted")
    export, _ = _export_through_the_page(project, lead, client_for, django_capture_on_commit_callbacks)
    assert export.status == "completed", export.refusals
    assert export.rows_written == 5


def test_an_ollama_style_model_name_can_be_declared_and_is_checked(
    project, admin_member, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    _declare_on_the_policy_page(project, admin_member, client_for, "tutor-1.5b <- qwen2.5:1.5b")
    assert project.target_models == [{"name": "tutor-1.5b", "derived_from": ["qwen2.5:1.5b"]}]
    base = _lineage(project, "local-qwen", "qwen2.5:1.5b")
    add_samples(project, 2, origin=Origin.REAL, status="accepted")
    add_samples(project, 3, gen=base, status="accepted")
    export, _ = _export_through_the_page(project, lead, client_for, django_capture_on_commit_callbacks)
    assert export.status == "refused"
    reason = {r["gate"]: r["reason"] for r in export.refusals}["recursion"]
    assert "tutor-1.5b is itself derived from its model qwen2.5:1.5b" in reason
