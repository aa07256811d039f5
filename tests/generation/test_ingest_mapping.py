"""--map and the default column aliases: which column becomes the input, the
output, the label and the lineage, and what lands in metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generation.models import Generator, ImportBatch, PromptTemplate, Sample
from synthreview.projects.models import Project
from tests.generation.ingest_helpers import (
    assert_nothing_imported,
    counted_samples,
    counters,
    import_fails,
    import_ok,
    stored,
    write_csv,
    write_jsonl,
    write_parquet,
)


@pytest.mark.django_db
def test_map_reads_input_output_and_label_from_named_columns(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "qa.jsonl",
        [
            {"q": "What is 6 x 7?", "a": "42", "grade": "correct", "output": "ignored", "id": 17},
        ],
    )

    output = import_ok(
        project, path, "--origin", "real", "--map", "input=q", "--map", "output=a", "--map", "label=grade"
    )

    assert output == "imported 1, skipped 0 duplicates"
    [sample] = stored(project)
    assert (sample["input"], sample["output"], sample["label"]) == ("What is 6 x 7?", "42", "correct")
    # Unmapped columns are kept, including one named like an alias the mapping overrode.
    assert sample["metadata"] == {"output": "ignored", "id": 17}


@pytest.mark.django_db
def test_map_works_for_csv_and_parquet_too(project: Project, tmp_path: Path) -> None:
    rows = [{"question": "Q1", "reply": "R1", "topic": "math"}]
    csv_path = write_csv(tmp_path / "a.csv", ["question", "reply", "topic"], [["Q1", "R1", "math"]])
    parquet_path = write_parquet(tmp_path / "b.parquet", rows)

    import_ok(project, csv_path, "--generator", "csv-gen", "--map", "output=reply", "--map", "label=topic")
    import_ok(project, parquet_path, "--generator", "pq-gen", "--map", "output=reply", "--map", "label=topic")

    assert [
        (row["generator"], row["input"], row["output"], row["label"], row["metadata"]) for row in stored(project)
    ] == [("csv-gen", "Q1", "R1", "math", {}), ("pq-gen", "Q1", "R1", "math", {})]


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["output", "response", "completion", "answer", "target"])
def test_each_output_alias_is_read_without_a_map(project: Project, tmp_path: Path, column: str) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "q", column: "the answer"}])

    import_ok(project, path, "--origin", "real")

    [sample] = stored(project)
    assert (sample["output"], sample["metadata"]) == ("the answer", {})


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["input", "prompt", "question"])
def test_each_input_alias_is_read_without_a_map(project: Project, tmp_path: Path, column: str) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{column: "the question", "output": "a"}])

    import_ok(project, path, "--origin", "real")

    [sample] = stored(project)
    assert (sample["input"], sample["metadata"]) == ("the question", {})


@pytest.mark.django_db
def test_self_instruct_layout_takes_response_over_target_and_keeps_the_rest(project: Project, tmp_path: Path) -> None:
    row = {
        "prompt": "Task: sort\nInput: 3 1 2\nOutput:",
        "instruction": "Sort the numbers.",
        "input": "3 1 2",
        "response": "1 2 3",
        "target": "1, 2, 3",
    }
    path = write_jsonl(tmp_path / "x.jsonl", [row])

    import_ok(project, path, "--generator", "davinci", "--template", "self-instruct")

    [sample] = stored(project)
    assert sample["input"] == "Sort the numbers.\n\n3 1 2"
    assert sample["output"] == "1 2 3"
    assert sample["metadata"] == {"prompt": "Task: sort\nInput: 3 1 2\nOutput:", "target": "1, 2, 3"}


@pytest.mark.django_db
def test_row_with_no_input_column_is_stored_with_empty_input(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"output": "a lone answer"}])

    import_ok(project, path, "--origin", "real")

    assert [(row["input"], row["output"]) for row in stored(project)] == [("", "a lone answer")]


@pytest.mark.django_db
def test_per_row_origin_generator_and_template_columns_hold_several_generators(
    project: Project, tmp_path: Path
) -> None:
    header = ["input", "output", "source", "model", "tmpl"]
    path = write_csv(
        tmp_path / "mixed.csv",
        header,
        [
            ["q1", "a1", "synthetic", "gpt-a", "short"],
            ["q1", "a1", "synthetic", "gpt-b", "long"],
            ["q2", "a2", "Real", "", ""],
            ["q3", "a3", "real", "gpt-a", "short"],  # a real row: its lineage columns are ignored
            ["q4", "a4", "", "gpt-c", ""],  # empty cells fall back to the defaults
        ],
    )

    output = import_ok(
        project,
        path,
        "--template",
        "default-tmpl",
        "--map",
        "origin=source",
        "--map",
        "generator=model",
        "--map",
        "template=tmpl",
    )

    assert output == "imported 5, skipped 0 duplicates"
    assert [(row["origin"], row["generator"], row["template"], row["metadata"]) for row in stored(project)] == [
        ("synthetic", "gpt-a", "short", {}),
        ("synthetic", "gpt-b", "long", {}),
        ("real", None, None, {}),
        ("real", None, None, {}),
        ("synthetic", "gpt-c", "default-tmpl", {}),
    ]
    assert sorted(Generator.objects.filter(project=project).values_list("name", flat=True)) == [
        "gpt-a",
        "gpt-b",
        "gpt-c",
    ]
    assert sorted(PromptTemplate.objects.filter(project=project).values_list("name", flat=True)) == [
        "default-tmpl",
        "long",
        "short",
    ]
    assert counters(project) == {("synthetic", "pending"): 3, ("real", "pending"): 2}
    assert counters(project) == counted_samples(project)


@pytest.mark.django_db
def test_an_existing_generator_is_reused_not_duplicated(project: Project, tmp_path: Path) -> None:
    existing = Generator.objects.create(project=project, name="gpt-a", model_name="gpt-a-2024")
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "q", "output": "a"}])

    import_ok(project, path, "--generator", "gpt-a")

    assert list(Generator.objects.filter(project=project)) == [existing]
    assert Sample.objects.get(project=project).generator_id == existing.pk


@pytest.mark.parametrize(
    ("option", "words"),
    [
        ("colour=x", ["colour", "input", "output", "label"]),
        ("output", ["FIELD=COLUMN"]),
        ("=x", ["FIELD=COLUMN"]),
    ],
)
@pytest.mark.django_db
def test_bad_map_option_is_refused_before_anything_is_read(
    project: Project, tmp_path: Path, option: str, words: list[str]
) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "q", "output": "a", "colour": "red"}])

    message, _ = import_fails(project, path, "--origin", "real", "--map", option)

    for word in words:
        assert word in message
    assert_nothing_imported(project)
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db
def test_mapping_the_same_field_twice_is_refused(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"a": "1", "b": "2"}])

    message, _ = import_fails(project, path, "--origin", "real", "--map", "output=a", "--map", "output=b")

    assert "output" in message and "twice" in message
    assert not ImportBatch.objects.exists()


@pytest.mark.django_db
def test_mapped_column_missing_from_a_row_names_the_line_and_column(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "x.jsonl",
        [
            {"q": "1", "a": "one"},
            {"q": "2", "answer_text": "two"},
        ],
    )

    _, errors = import_fails(project, path, "--origin", "real", "--map", "input=q", "--map", "output=a")

    assert len(errors) == 1
    assert errors[0].startswith("line 2: ") and "'a'" in errors[0] and "output" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_unknown_origin_in_a_row_is_an_error(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "x.jsonl",
        [
            {"input": "q", "output": "a", "kind": "real"},
            {"input": "q2", "output": "a2", "kind": "made-up"},
        ],
    )

    _, errors = import_fails(project, path, "--map", "origin=kind", "--generator", "g")

    assert len(errors) == 1 and errors[0].startswith("line 2: origin") and "made-up" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_synthetic_row_with_empty_generator_cell_and_no_default_is_an_error(project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", ["input", "output", "model"], [["q", "a", "g1"], ["q2", "a2", ""]])

    _, errors = import_fails(project, path, "--map", "generator=model")

    assert len(errors) == 1 and errors[0].startswith("line 3: ") and "generator" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_numeric_label_is_stored_as_text_and_an_overlong_label_is_refused(project: Project, tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [{"input": "q", "output": "a", "label": 3}])
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"input": "q", "output": "a", "label": "x" * 201}])

    import_ok(project, good, "--origin", "real")
    _, errors = import_fails(project, bad, "--origin", "real")

    assert [row["label"] for row in stored(project)] == ["3"]
    assert len(errors) == 1 and errors[0].startswith("line 1: label") and "200" in errors[0]


@pytest.mark.django_db
def test_metadata_keeps_every_unmapped_field_with_its_json_type(project: Project, tmp_path: Path) -> None:
    row: dict[str, Any] = {
        "input": "q",
        "output": "a",
        "score": 0.5,
        "tags": ["x", "y"],
        "flag": True,
        "details": {"depth": 2},
        "nothing": None,
    }
    path = write_jsonl(tmp_path / "x.jsonl", [row])

    import_ok(project, path, "--origin", "real")

    [sample] = stored(project)
    assert sample["metadata"] == {
        "score": 0.5,
        "tags": ["x", "y"],
        "flag": True,
        "details": {"depth": 2},
        "nothing": None,
    }
