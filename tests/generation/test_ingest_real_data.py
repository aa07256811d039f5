"""Real data through the CLI: GSM8K as real samples and the eight Self-Instruct
prediction files as one synthetic run of eight generators.

Every expectation is computed here from the raw files, never from the importer:
the stored input is the instruction, then a blank line and the input when the
input is not blank (the Alpaca layout); the stored output is the response.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from generation.models import Sample
from generation.services.imports import import_batch_create, import_batch_run
from synthreview.projects.models import Project
from tests.generation.ingest_helpers import SINKS, counted_samples, counters, import_ok
from tests.generation.run_helpers import setup_access

Member = tuple[str, str, str]  # (generator, stored input, stored output)


def alpaca_input(row: dict[str, str]) -> str:
    return f"{row['instruction']}\n\n{row['input']}" if row["input"].strip() else row["instruction"]


def prediction_files(shared_data: Path) -> dict[str, Path]:
    folder = shared_data / "self_instruct_user_oriented" / "predictions"
    return {path.name.removesuffix("_predictions.jsonl"): path for path in sorted(folder.glob("*.jsonl"))}


def read_jsonl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def kept_duplicate_sets(files: dict[str, Path]) -> list[frozenset[Member]]:
    """Identical responses that different generators gave to the same prompt."""
    groups: dict[tuple[str, str, str], list[Member]] = defaultdict(list)
    for generator, path in files.items():
        for row in read_jsonl(path):
            key = (row["instruction"].strip(), row["input"].strip(), row["response"].strip())
            groups[key].append((generator, alpaca_input(row), row["response"]))
    return [frozenset(members) for members in groups.values() if len({m[0] for m in members}) > 1]


@pytest.mark.django_db
def test_real_gsm8k_and_eight_generator_self_instruct_run_import_completely(
    project: Project, shared_data: Path
) -> None:
    gsm8k_path = shared_data / "gsm8k" / "gsm8k_train.json"
    gsm8k = json.loads(gsm8k_path.read_text(encoding="utf-8"))
    files = prediction_files(shared_data)
    predictions = {generator: read_jsonl(path) for generator, path in files.items()}
    assert len(gsm8k) == 7_473 and len(files) == 8
    assert sum(map(len, predictions.values())) == 2_016

    assert import_ok(project, gsm8k_path, "--origin", "real") == "imported 7473, skipped 0 duplicates"
    for generator, path in files.items():
        output = import_ok(project, path, "--generator", generator, "--template", "self-instruct")
        assert output == f"imported {len(predictions[generator])}, skipped 0 duplicates"

    real = Sample.objects.filter(project=project, origin="real")
    assert Counter(real.values_list("input", "output")) == Counter((alpaca_input(row), row["output"]) for row in gsm8k)
    assert not real.filter(generator__isnull=False).exists()
    synthetic = Sample.objects.filter(project=project, origin="synthetic")
    assert Counter(synthetic.values_list("generator__name", "input", "output")) == Counter(
        (generator, alpaca_input(row), row["response"]) for generator, rows in predictions.items() for row in rows
    )
    assert set(synthetic.values_list("template_version__template__name", flat=True)) == {"self-instruct"}
    assert counters(project) == {("real", "pending"): 7_473, ("synthetic", "pending"): 2_016}
    assert counters(project) == counted_samples(project)


@pytest.mark.django_db
@pytest.mark.parametrize("use_copy", SINKS)
def test_identical_responses_of_different_generators_are_all_kept(
    project: Project, shared_data: Path, use_copy: bool
) -> None:
    files = prediction_files(shared_data)
    expected = kept_duplicate_sets(files)
    assert (len(expected), sum(map(len, expected))) == (109, 308)

    for generator, path in files.items():
        batch = import_batch_create(
            setup_access(project),
            path=path,
            file_name=path.name,
            fmt="jsonl",
            origin="synthetic",
            generator_name=generator,
            template_name="self-instruct",
        )
        assert import_batch_run(batch_id=batch.pk, use_copy=use_copy).status == "completed"

    by_hash: dict[str, set[Member]] = defaultdict(set)
    for content, generator, input_text, output_text in Sample.objects.filter(project=project).values_list(
        "content_hash", "generator__name", "input", "output"
    ):
        by_hash[content].add((generator, input_text, output_text))
    stored_sets = [frozenset(members) for members in by_hash.values() if len({m[0] for m in members}) > 1]
    assert (len(stored_sets), sum(map(len, stored_sets))) == (109, 308)
    assert set(stored_sets) == set(expected)
    assert counters(project) == {("synthetic", "pending"): 2_016}


@pytest.mark.django_db
def test_reimporting_a_real_prediction_file_skips_every_row(project: Project, shared_data: Path) -> None:
    generator, path = next(iter(prediction_files(shared_data).items()))
    rows = len(read_jsonl(path))
    import_ok(project, path, "--generator", generator, "--template", "self-instruct")

    output = import_ok(project, path, "--generator", generator, "--template", "self-instruct")

    assert output == f"imported 0, skipped {rows} duplicates"
    assert counters(project) == {("synthetic", "pending"): rows}
