"""The checks service: new samples get SampleFlag rows once (through the path a run
takes for the samples it just wrote); templates pick the checks; an import ends with
its samples checked; the run_checks command."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from generation.models import PromptTemplate, PromptTemplateVersion, Sample, SampleFlag
from generation.services.checks import import_checks_run, new_samples_check
from generation.services.imports import import_batch_create, import_batch_run
from tests.generation.ingest_helpers import write_jsonl
from tests.generation.run_helpers import setup_access
from tests.reviews.review_helpers import add_sample, add_samples

pytestmark = pytest.mark.django_db

REFUSAL = "As an AI language model, I can't share opinions."


def stored_flags(project) -> set[tuple[int, str]]:
    return set(SampleFlag.objects.filter(project=project).values_list("sample_id", "check_name"))


def check_new(*samples: Sample) -> int:
    """Check samples as a run does once it has written them; each call reads the real anchors afresh."""
    return new_samples_check(samples=list(samples), contexts={})


def version(project, *, name: str = "tpl", **fields: object) -> PromptTemplateVersion:
    template = PromptTemplate.objects.create(project=project, name=name)
    return PromptTemplateVersion.objects.create(template=template, version=1, **fields)


def test_flags_are_stored_for_the_samples_that_fail(project) -> None:
    empty = add_sample(project, input="q1", output="   ")
    refusal = add_sample(project, input="q2", output=REFUSAL)
    fine = add_sample(project, input="q3", output="Paris is the capital of France.")

    written = check_new(empty, refusal, fine)

    assert written == 2
    assert stored_flags(project) == {(empty.pk, "empty"), (refusal.pk, "refusal")}
    assert (
        SampleFlag.objects.get(sample=refusal).reason == "refusal or assistant boilerplate: “As an AI language model”"
    )


def test_running_twice_writes_nothing_new(project) -> None:
    samples = [add_sample(project, input=f"q{n}", output="") for n in range(3)]
    assert check_new(*samples) == 3
    first = list(SampleFlag.objects.order_by("pk").values_list("pk", "sample_id", "check_name", "reason"))

    assert check_new(*samples) == 0

    assert list(SampleFlag.objects.order_by("pk").values_list("pk", "sample_id", "check_name", "reason")) == first


def test_the_templates_checks_setting_is_respected(project) -> None:
    only_math = version(project, name="math-only", checks=["math-answer"])
    # Empty and numberless: the empty check would fire, but the template names math-answer only.
    sample = add_sample(project, input="q", output="", template_version=only_math)

    check_new(sample)

    assert stored_flags(project) == {(sample.pk, "math-answer")}


def test_a_json_template_without_a_list_gets_the_json_defaults(project) -> None:
    json_version = version(project, output_format="json", output_schema={"type": "object", "required": ["name"]})
    broken = add_sample(project, input="q1", output='{"name": "x"', template_version=json_version)
    unnamed = add_sample(project, input="q2", output='{"title": "x"}', template_version=json_version)
    fine = add_sample(project, input="q3", output='```json\n{"name": "x"}\n```', template_version=json_version)

    check_new(broken, unnamed, fine)

    assert stored_flags(project) == {(broken.pk, "json"), (unnamed.pk, "json")}
    assert SampleFlag.objects.get(sample=unnamed).reason == (
        "does not match the output schema at $: 'name' is a required property"
    )


def test_length_outliers_need_twenty_real_anchors(project) -> None:
    ten_words = " ".join(["anchor"] * 10)
    add_samples(project, 19, origin="real", texts=[(f"q{n}", ten_words) for n in range(19)])
    # Only the length check, or 300 times "word" would be repetition too.
    length_only = version(project, checks=["length-outlier"])
    long = add_sample(project, input="long", output=" ".join(["word"] * 300), template_version=length_only)

    check_new(long)
    assert stored_flags(project) == set()

    add_sample(project, origin="real", input="q19", output=ten_words)
    check_new(long)
    # Median log 11, MAD floored to 0.1: z = 0.6745 · log(301/11) / 0.1 ≈ 22.3.
    assert stored_flags(project) == {(long.pk, "length-outlier")}
    assert SampleFlag.objects.get(sample=long).reason == (
        "300 words, far longer than the 20 real anchors (median 10 words; modified z-score +22.3, limit ±3.5)"
    )


def test_an_import_ends_with_its_samples_checked(
    project, tmp_path: Path, run_tasks_inline, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    # Embedding is another worker's job; it is not under test here.
    monkeypatch.setattr("reviews.receivers.similarity_refresh", lambda **kwargs: None)
    path = write_jsonl(
        tmp_path / "batch.jsonl",
        [
            {"input": "q1", "output": ""},
            {"input": "q2", "output": "I’m sorry, but I cannot help with that."},
            {"input": "q3", "output": "Paris is the capital of France."},
        ],
    )
    batch = import_batch_create(
        setup_access(project), path=path, file_name=path.name, fmt="jsonl", origin="synthetic", generator_name="gpt-x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        import_batch_run(batch_id=batch.pk)

    by_input = {sample.input: sample.pk for sample in Sample.objects.filter(project=project)}
    assert stored_flags(project) == {(by_input["q1"], "empty"), (by_input["q2"], "refusal")}
    assert import_checks_run(batch_id=batch.pk) == 0


def test_import_checks_cover_every_chunk(project, monkeypatch) -> None:
    monkeypatch.setattr("generation.services.checks.CHECK_CHUNK_SIZE", 2)
    samples = add_samples(project, 5, texts=[(f"q{n}", "") for n in range(5)])
    other = add_sample(project, input="not in the batch", output="")
    batch = import_batch_create(
        setup_access(project), path=Path("/nonexistent"), file_name="x.jsonl", fmt="jsonl", origin="real"
    )
    Sample.objects.filter(pk__in=[sample.pk for sample in samples]).update(import_batch=batch)

    assert import_checks_run(batch_id=batch.pk) == 5

    assert stored_flags(project) == {(sample.pk, "empty") for sample in samples}
    assert not SampleFlag.objects.filter(sample=other).exists()


def run_command(*args: str) -> list[str]:
    out = StringIO()
    call_command("run_checks", *args, stdout=out)
    return out.getvalue().splitlines()


def test_run_checks_command_prints_counts_and_rechecks(project) -> None:
    empty = add_sample(project, input="q1", output="")
    add_sample(project, input="q2", output=REFUSAL)
    add_sample(project, input="q3", output="I'm sorry, but I can't do that.")

    lines = run_command(project.slug)

    assert lines == [
        "empty: 1 flagged",
        "truncated: 0 flagged",
        "refusal: 2 flagged",
        "repetition: 0 flagged",
        "length-outlier: 0 flagged",
        "json: 0 flagged",
        "math-answer: 0 flagged",
        "code-syntax: 0 flagged",
        "3 new flags written",
    ]

    Sample.objects.filter(pk=empty.pk).update(output="Now it has an answer.")
    assert run_command(project.slug, "--only", "empty") == ["empty: 0 flagged", "0 new flags written"]
    assert not SampleFlag.objects.filter(sample=empty).exists()
    assert SampleFlag.objects.filter(project=project, check_name="refusal").count() == 2


def test_run_checks_command_refuses_an_unknown_project_or_check(project) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        run_command("nope")
    with pytest.raises(CommandError):
        run_command(project.slug, "--only", "spelling")
