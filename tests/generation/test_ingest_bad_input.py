"""Bad input gives a clear error naming the line, crashes nothing and writes
nothing: encodings, NUL characters, oversized lines, wrong types, broken
structure, and files with no samples."""

from __future__ import annotations

import codecs
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import override_settings

from synthreview.projects.models import Project
from tests.generation.ingest_helpers import (
    assert_nothing_imported,
    import_fails,
    import_ok,
    stored,
    write_csv,
    write_json_array,
    write_jsonl,
    write_parquet,
)

GOOD = {"input": "q", "output": "a"}


def jsonl_bytes(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def good_line(n: int) -> bytes:
    return json.dumps({"input": f"q{n}", "output": f"a{n}"}).encode()


# --- encodings ---------------------------------------------------------------


@pytest.mark.django_db
def test_invalid_utf8_in_jsonl_names_the_line(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), '{"input": "café", "output": "x"}'.encode("latin-1"), good_line(3)))

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1
    assert errors[0].startswith("line 2: ") and "UTF-8" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_invalid_utf8_in_json_or_csv_is_a_clear_error(project: Project, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"latin1.{fmt}"
    text = '[{"input": "café", "output": "x"}]' if fmt == "json" else "input,output\ncafé,x\n"
    path.write_bytes(text.encode("latin-1"))

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and "UTF-8" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_file_is_refused_with_a_clear_error(project: Project, tmp_path: Path, fmt: str, encoding: str) -> None:
    text = {
        "jsonl": '{"input": "q", "output": "a"}\n',
        "json": '[{"input": "q", "output": "a"}]',
        "csv": "input,output\nq,a\n",
    }[fmt]
    path = tmp_path / f"wide.{fmt}"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    path.write_bytes(data)

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and "UTF-16" in errors[0] and "UTF-8" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_utf8_bom_is_accepted_and_not_stored(project: Project, tmp_path: Path, fmt: str) -> None:
    # For CSV the BOM sits on the first column's name, so "input" must still be found.
    text = {
        "jsonl": '{"input": "q", "output": "a"}\n',
        "json": '[{"input": "q", "output": "a"}]',
        "csv": "input,output\nq,a\n",
    }[fmt]
    path = tmp_path / f"bom.{fmt}"
    path.write_bytes(codecs.BOM_UTF8 + text.encode("utf-8"))

    assert import_ok(project, path, "--origin", "real") == "imported 1, skipped 0 duplicates"

    assert [(row["input"], row["output"], row["metadata"]) for row in stored(project)] == [("q", "a", {})]


@pytest.mark.django_db
def test_unpaired_surrogate_escape_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), b'{"input": "q", "output": "broken \\ud800 text"}'))

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 2: output")
    assert_nothing_imported(project)


# --- NUL characters ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad_line",
    [
        b'{"input": "q", "output": "a\\u0000b"}',  # escaped NUL in the output
        b'{"input": "q\\u0000", "output": "a"}',  # escaped NUL in the input
        b'{"input": "q", "output": "a", "note": "x\\u0000y"}',  # escaped NUL in a metadata field
        b'{"input": "q", "output": "a\x00b"}',  # a raw NUL byte
    ],
    ids=["output-escape", "input-escape", "metadata-escape", "raw-byte"],
)
def test_nul_character_in_jsonl_is_refused_by_line(project: Project, tmp_path: Path, bad_line: bytes) -> None:
    path = tmp_path / "nul.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), good_line(2), bad_line, good_line(4)))

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 3: ")
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_nul_byte_in_a_csv_cell_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(b"input,output\nq1,a1\nq2,a\x002\n")

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 3: ") and "NUL" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_nul_in_a_parquet_string_is_refused_by_row(project: Project, tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "nul.parquet", [GOOD, {"input": "q2", "output": "a\x00b"}])

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("row 2: ") and "NUL" in errors[0]
    assert_nothing_imported(project)


# --- size limits ---------------------------------------------------------------


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=2048)
def test_oversized_jsonl_line_is_refused_by_line(project: Project, tmp_path: Path) -> None:
    long_line = json.dumps({"input": "q", "output": "x" * 5000}).encode()
    path = tmp_path / "long.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), long_line, good_line(3)))

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 2: ") and "2048" in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=2048)
def test_lines_under_the_limit_import(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "ok.jsonl", [{"input": "q", "output": "x" * 1900}])

    assert import_ok(project, path, "--origin", "real") == "imported 1, skipped 0 duplicates"


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=2048)
def test_oversized_csv_cell_is_refused(project: Project, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "long.csv", ["input", "output"], [["q1", "a1"], ["q2", "x" * 5000]])

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 3: ")
    assert_nothing_imported(project)


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=2048)
def test_oversized_json_array_element_is_refused(project: Project, tmp_path: Path) -> None:
    path = write_json_array(tmp_path / "long.json", [GOOD, {"input": "q", "output": "x" * 5000}])

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 3: ") and "2048" in errors[0]
    assert_nothing_imported(project)


# --- wrong types -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("output", "kind"),
    [({"text": "a"}, "object"), (["a", "b"], "array")],
)
def test_output_that_is_an_object_or_array_is_refused(
    project: Project, tmp_path: Path, output: object, kind: str
) -> None:
    path = write_jsonl(tmp_path / "types.jsonl", [GOOD, {"input": "q2", "output": output}])

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 2: output") and kind in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_input_that_is_an_object_is_refused(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "types.jsonl", [{"input": {"q": 1}, "output": "a"}])

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 1: input") and "object" in errors[0]


@pytest.mark.django_db
def test_null_output_is_a_missing_output(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "types.jsonl", [GOOD, {"input": "q2", "output": None}])

    _, errors = import_fails(project, path, "--origin", "real")

    assert errors == ["line 2: missing output"]


@pytest.mark.django_db
def test_numbers_are_stored_as_text(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "numbers.jsonl",
        [
            {"input": "6 x 7", "output": 42},
            {"input": "half", "output": 0.5},
            {"input": 12, "output": "twelve"},
        ],
    )

    import_ok(project, path, "--origin", "real")

    assert [(row["input"], row["output"]) for row in stored(project)] == [
        ("6 x 7", "42"),
        ("half", "0.5"),
        ("12", "twelve"),
    ]


@pytest.mark.django_db
def test_parquet_struct_output_and_null_output_are_refused_by_row(project: Project, tmp_path: Path) -> None:
    path = write_parquet(
        tmp_path / "types.parquet",
        [
            {"input": "q1", "output": {"text": "a"}},
            {"input": "q2", "output": None},
            {"input": "q3", "output": {"text": "c"}},
        ],
    )

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 3
    assert errors[0].startswith("row 1: output") and "object" in errors[0]
    assert errors[1] == "row 2: missing output"
    assert errors[2].startswith("row 3: output")
    assert_nothing_imported(project)


# --- broken structure --------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('{"input": "q", "output": "a"}', 1, ["array"]),
        ('"just a string"', 1, ["array"]),
        ('[\n{"input": "q", "output": "a"},\n{"input": "q2", "output": "a2"}\n', 4, ["]"]),
        ('[\n{"input": "q", "output": "a"}\n{"input": "q2", "output": "a2"}\n]', 3, ["invalid JSON"]),
        ('[\n{"input": "q", "output": "a"}\n] trailing', 3, ["after"]),
    ],
    ids=["object", "string", "unclosed", "missing-comma", "trailing"],
)
def test_json_file_that_is_not_a_clean_array_is_refused(
    project: Project, tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    path = tmp_path / "broken.json"
    path.write_text(text, encoding="utf-8")

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith(f"line {line}: ")
    for word in words:
        assert word in errors[0]
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_json_array_elements_that_are_not_objects_are_each_reported(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "mixed.json"
    path.write_text(
        '[\n{"input": "q", "output": "a"},\n42,\n["x"],\n{"input": "q2", "output": "a2"}\n]', encoding="utf-8"
    )

    _, errors = import_fails(project, path, "--origin", "real")

    assert [error.split(":")[0] for error in errors] == ["line 3", "line 4"]
    assert "number" in errors[0] and "array" in errors[1]


@pytest.mark.django_db
def test_jsonl_line_that_is_not_an_object_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), b'["q", "a"]'))

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 2: ") and "array" in errors[0]


@pytest.mark.django_db
def test_csv_row_with_wrong_number_of_fields_names_its_line(project: Project, tmp_path: Path) -> None:
    # Row 2 holds a quoted newline, so the short row starts on line 5, not line 4.
    path = tmp_path / "fields.csv"
    path.write_text('input,output\nq1,a1\n"two\nlines",a2\nq3,a3,extra\nq4\nq5,a5\n', encoding="utf-8")

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 2
    assert errors[0].startswith("line 5: ") and "2" in errors[0] and "3" in errors[0]
    assert errors[1].startswith("line 6: ")
    assert_nothing_imported(project)


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["input,,output", "input,output,input"], ids=["empty-name", "repeated"])
def test_csv_header_with_empty_or_repeated_column_is_refused(project: Project, tmp_path: Path, header: str) -> None:
    path = tmp_path / "header.csv"
    path.write_text(f"{header}\nq,x,a\n", encoding="utf-8")

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 1: ")
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_formula_looking_csv_cells_are_stored_verbatim_as_text(project: Project, tmp_path: Path) -> None:
    cells = ['=HYPERLINK("http://evil.example","click")', "+1+2", "-3", "@SUM(A1:A2)"]
    path = write_csv(
        tmp_path / "formulas.csv",
        ["input", "output", "note"],
        [
            [cells[0], cells[1], cells[2]],
            [cells[3], cells[0], cells[1]],
        ],
    )

    import_ok(project, path, "--origin", "real")

    assert [(row["input"], row["output"], row["metadata"]) for row in stored(project)] == [
        (cells[0], cells[1], {"note": cells[2]}),
        (cells[3], cells[0], {"note": cells[1]}),
    ]


@pytest.mark.django_db
def test_unreadable_parquet_file_is_a_clear_error(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"this is not parquet at all" * 10)

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and "Parquet" in errors[0]
    assert_nothing_imported(project)


# --- lineage and empty files ----------------------------------------------------------


@pytest.mark.django_db
def test_synthetic_rows_without_a_generator_are_refused(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [GOOD, {"input": "q2", "output": "a2"}])

    message, errors = import_fails(project, path)  # synthetic is the default origin

    # Said once, before any row is read, with both ways out.
    assert errors == []
    assert "synthetic samples need a generator" in message and "--origin real" in message
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_real_import_with_a_generator_is_refused(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [GOOD])

    message, _ = import_fails(project, path, "--origin", "real", "--generator", "g")

    assert "generator" in message
    assert_nothing_imported(project)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.jsonl", b""),
        ("blank.jsonl", b"\n  \n\n"),
        ("empty.csv", b""),
        ("header-only.csv", b"input,output\n"),
        ("empty-array.json", b"[]"),
        ("empty.json", b""),
    ],
)
def test_file_without_samples_is_an_error(project: Project, tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_parquet_file_with_no_rows_is_an_error(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"input": pa.array([], pa.string()), "output": pa.array([], pa.string())}), path)

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1
    assert_nothing_imported(project)


@pytest.mark.django_db
def test_missing_file_unknown_project_and_unknown_extension_are_clear_errors(project: Project, tmp_path: Path) -> None:
    unknown_extension = write_jsonl(tmp_path / "samples.txt", [GOOD])
    nowhere = Project(slug="no-such-project")

    missing_message, _ = import_fails(project, tmp_path / "missing.jsonl", "--origin", "real")
    project_message, _ = import_fails(nowhere, unknown_extension, "--origin", "real")
    extension_message, _ = import_fails(project, unknown_extension, "--origin", "real")

    assert "missing.jsonl" in missing_message
    assert "no-such-project" in project_message
    assert "samples.txt" in extension_message and "format" in extension_message
    assert_nothing_imported(project)


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=2048)
def test_syntax_error_in_a_json_array_is_not_reported_as_an_oversized_element(project: Project, tmp_path: Path) -> None:
    # Element 2 is short but broken; more than the limit's worth of good elements follow it.
    good = ",\n".join(json.dumps({"input": f"q{n}", "output": "a" * 100}) for n in range(60))
    path = tmp_path / "typo.json"
    path.write_text(
        '[\n{"input": "q", "output": "a"},\n{"input": "q2", "output": oops},\n' + good + "\n]", encoding="utf-8"
    )

    _, errors = import_fails(project, path, "--origin", "real")

    assert len(errors) == 1 and errors[0].startswith("line 3: invalid JSON")
    assert_nothing_imported(project)
