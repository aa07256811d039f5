"""Hostile files are refused like any bad row: the line (for Parquet, the row and its
row group), the reason, and nothing imported; never a traceback. Deep nesting, NaN,
huge numbers, repeated keys, damaged or inflated Parquet, and bad bytes deep in a CSV."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import override_settings

from generation.ingest.readers import read_rows
from generation.ingest.rows import RawRow
from generation.models import ImportBatch, ImportStatus
from generation.services.imports import import_batch_create, import_batch_run
from synthreview.projects.access import ProjectAccess, SystemActor
from synthreview.projects.models import Project
from tests.generation.ingest_helpers import SINKS, assert_nothing_imported, import_fails, import_ok, stored


def jsonl_bytes(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def good_line(n: int) -> bytes:
    return json.dumps({"input": f"q{n}", "output": f"a{n}"}).encode()


def refusals(errors: list[str]) -> list[str]:
    """The lines of the report that name a line or row (leaving out any summary or hint)."""
    return [error for error in errors if error.startswith(("line ", "row "))]


def refused_once(project: Project, path: Path, *args: str) -> str:
    _, errors = import_fails(project, path, *args)
    found = refusals(errors)
    assert len(found) == 1, errors
    assert_nothing_imported(project)
    return found[0]


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# --- nesting -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [101, 100_000])
def test_jsonl_line_nested_too_deeply_is_refused_by_line(project: Project, tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.jsonl"
    deep = b'{"input": "q", "output": "a", "meta": ' + nested(depth) + b"}"
    path.write_bytes(jsonl_bytes(good_line(1), deep, good_line(3)))

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 2: ") and "nested" in error


@pytest.mark.django_db
def test_json_array_element_nested_too_deeply_is_refused_by_line(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    deep = b'{"input": "q", "output": "a", "meta": ' + nested(100_000) + b"}"
    path.write_bytes(b"[\n" + good_line(1) + b",\n" + deep + b"\n]\n")

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 3: ") and "nested" in error


@pytest.mark.django_db
def test_nesting_within_the_limit_and_brackets_in_text_import(project: Project, tmp_path: Path) -> None:
    # The object and 99 arrays are 100 levels; brackets inside a string are text, not nesting.
    path = tmp_path / "fine.jsonl"
    path.write_bytes(
        jsonl_bytes(
            b'{"input": "q", "output": "a", "meta": ' + nested(99) + b"}",
            b'{"input": "q2", "output": "' + b"[{" * 500 + b'"}',
        )
    )

    assert import_ok(project, path, "--origin", "real") == "imported 2, skipped 0 duplicates"
    assert stored(project)[1]["output"] == "[{" * 500


# --- NaN and infinities ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"input": "q", "output": "a", "score": %s}', "score"),
        ('{"input": "q", "output": %s}', "output"),
        ('{"input": "q", "output": "a", "stats": {"runs": [1, %s]}}', "runs"),
    ],
    ids=["metadata", "output", "nested"],
)
def test_nan_and_infinity_in_jsonl_are_refused_by_line_and_field(
    project: Project, tmp_path: Path, constant: str, template: str, field: str
) -> None:
    path = tmp_path / "nan.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), good_line(2), (template % constant).encode(), good_line(4)))

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 3: ") and repr(field) in error and constant in error


@pytest.mark.django_db
def test_number_too_large_for_a_float_is_refused_by_line_and_field(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "huge-float.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), b'{"input": "q", "output": "a", "score": 1e400}'))

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 2: ") and "score" in error


@pytest.mark.django_db
def test_nan_in_a_json_array_is_refused_by_line(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "nan.json"
    path.write_bytes(
        b"[\n" + good_line(1) + b',\n{"input": "q", "output": "a", "score": NaN},\n' + good_line(3) + b"\n]"
    )

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 3: ") and "'score'" in error


@pytest.mark.django_db
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_nan_and_infinity_in_a_parquet_column_are_refused_by_row_and_field(
    project: Project, tmp_path: Path, value: float
) -> None:
    path = tmp_path / "nan.parquet"
    pq.write_table(
        pa.table(
            {
                "input": ["q1", "q2", "q3"],
                "output": ["a1", "a2", "a3"],
                "score": [0.5, value, 1.0],
                "stats": [{"mean": 1.0}, {"mean": 2.0}, {"mean": value}],
            }
        ),
        path,
    )

    _, errors = import_fails(project, path, "--origin", "real")

    found = refusals(errors)
    assert len(found) == 2, errors
    assert found[0].startswith("row 2: ") and "score" in found[0]
    assert found[1].startswith("row 3: ") and "stats.mean" in found[1]
    assert_nothing_imported(project)


# --- huge integers ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_integer_of_5001_digits_is_refused_by_line(project: Project, tmp_path: Path, fmt: str) -> None:
    huge = b'{"input": "q", "output": "a", "n": ' + b"7" * 5001 + b"}"
    path = tmp_path / f"huge.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(jsonl_bytes(good_line(1), huge))  # line 2
    else:
        path.write_bytes(b"[\n" + good_line(1) + b",\n" + huge + b"\n]")  # line 3
    expected = "line 2: " if fmt == "jsonl" else "line 3: "

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith(expected) and "digits" in error


# --- repeated keys ------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("line", "key"),
    [
        (b'{"input": "q", "output": "a", "output": "b"}', "output"),
        (b'{"input": "q", "output": "a", "meta": {"k": 1, "k": 2}}', "k"),
    ],
    ids=["top-level", "nested"],
)
@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_key_given_twice_is_refused_by_line_and_key(
    project: Project, tmp_path: Path, fmt: str, line: bytes, key: str
) -> None:
    path = tmp_path / f"twice.{fmt}"
    if fmt == "jsonl":
        path.write_bytes(jsonl_bytes(good_line(1), line, good_line(3)))  # line 2
    else:
        path.write_bytes(b"[" + good_line(1) + b",\n" + line + b",\n" + good_line(3) + b"]")  # line 2

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 2: ") and repr(key) in error


@pytest.mark.django_db
def test_parquet_with_a_column_given_twice_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "twice.parquet"
    pq.write_table(
        pa.table([pa.array(["q"]), pa.array(["a"]), pa.array(["b"])], names=["input", "output", "output"]), path
    )

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("row 1: ") and "'output'" in error


@pytest.mark.django_db
def test_parquet_struct_with_a_field_given_twice_is_refused(project: Project, tmp_path: Path) -> None:
    meta = pa.StructArray.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["k", "k"])
    path = tmp_path / "twice.parquet"
    pq.write_table(
        pa.table([pa.array(["q1", "q2"]), pa.array(["a1", "a2"]), meta], names=["input", "output", "meta"]), path
    )

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("row 1: ") and "'meta'" in error and "'k'" in error


# --- damaged Parquet ----------------------------------------------------------------------


def parquet_in_three_row_groups(path: Path) -> Path:
    rows = [{"input": f"q{n}", "output": f"answer {n} " * 20} for n in range(1, 301)]
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=100, compression="zstd")
    return path


def damage_row_group(path: Path, index: int, *, header: bool) -> None:
    """Overwrite the column chunks of one row group, the footer left intact: their page
    headers (so the pages cannot be found), or the middle of their data (so they cannot be decoded)."""
    group = pq.ParquetFile(path).metadata.row_group(index)
    data = bytearray(path.read_bytes())
    for column in range(group.num_columns):
        chunk = group.column(column)
        start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
        length = chunk.total_compressed_size
        if header:
            data[start : start + length] = b"\xff" * length
        else:
            middle = start + length // 2
            data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))


@pytest.mark.django_db
@pytest.mark.parametrize("header", [True, False], ids=["page-headers", "page-data"])
def test_parquet_with_a_damaged_middle_row_group_is_refused_naming_it(
    project: Project, tmp_path: Path, header: bool
) -> None:
    path = parquet_in_three_row_groups(tmp_path / "damaged.parquet")
    damage_row_group(path, 1, header=header)

    _, errors = import_fails(project, path, "--origin", "real")

    found = refusals(errors)
    assert found and found[0].startswith("row 1") and "row group 2 of 3" in found[0], errors
    # Rows 101-200 are the second row group: whichever row of it broke, the report names one of them.
    assert all(101 <= int(error.split(":")[0].split()[1]) <= 200 for error in found)
    assert_nothing_imported(project)


# --- Parquet sizes ------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=4096)
def test_parquet_row_group_over_the_limit_is_refused_before_it_is_read(project: Project, tmp_path: Path) -> None:
    # One row to a row group: the second holds a 100 KB cell that compresses to almost nothing.
    path = tmp_path / "inflated.parquet"
    table = pa.table({"input": ["q1", "q2", "q3"], "output": ["a1", "z" * 100_000, "a3"]})
    pq.write_table(table, path, row_group_size=1, compression="zstd")
    assert path.stat().st_size < 10_000

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("row 2: ") and "row group 2 of 3" in error and "4,096" in error


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=4096)
def test_parquet_cell_over_the_limit_among_small_rows_is_refused_by_row(project: Project, tmp_path: Path) -> None:
    outputs = [f"a{n}" for n in range(1, 501)]
    outputs[249] = "z" * 100_000  # row 250
    path = tmp_path / "hidden.parquet"
    pq.write_table(
        pa.table({"input": [f"q{n}" for n in range(1, 501)], "output": outputs}),
        path,
        compression="zstd",
        use_dictionary=False,
    )

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("row 250: ") and "'output'" in error and "4,096" in error


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=4096)
def test_parquet_dictionary_over_the_limit_is_refused_before_it_is_read(project: Project, tmp_path: Path) -> None:
    # One 100 KB value that every row repeats: a dictionary page makes the file tiny, and
    # reading it naively would copy the value into every row of a batch.
    path = tmp_path / "dictionary.parquet"
    value = pa.array(["z" * 100_000]).dictionary_encode()
    indices = pa.array([0] * 2000, pa.int32())
    output = pa.DictionaryArray.from_arrays(indices, value.dictionary)
    pq.write_table(pa.table({"input": pa.array(["q"] * 2000), "output": output}), path, compression="zstd")
    assert path.stat().st_size < 10_000

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("row 1: ") and "row group 1 of 1" in error and "'output'" in error


@pytest.mark.django_db
def test_parquet_value_python_cannot_hold_is_refused_by_row(project: Project, tmp_path: Path) -> None:
    # 10**12 seconds after 1970 is past the year 9999, the last a Python datetime holds.
    path = tmp_path / "dates.parquet"
    stamps = pa.array([0, 10**12, 0], pa.timestamp("s"))
    pq.write_table(pa.table({"input": ["q1", "q2", "q3"], "output": ["a1", "a2", "a3"], "at": stamps}), path)

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("row 2: ")


# --- CSV --------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("bad_line", [3, 5001])
def test_invalid_utf8_in_csv_names_its_physical_line(project: Project, tmp_path: Path, bad_line: int) -> None:
    lines = [b"input,output"] + [f"q{n},a{n}".encode() for n in range(2, 5101)]
    lines[bad_line - 1] = "café,x".encode("latin-1")
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith(f"line {bad_line}: ") and "UTF-8" in error


@pytest.mark.django_db
def test_invalid_utf8_after_a_quoted_newline_names_its_physical_line(project: Project, tmp_path: Path) -> None:
    # The record on lines 2-3 holds a newline; the bad byte is on line 4.
    path = tmp_path / "latin1.csv"
    path.write_bytes(b'input,output\n"two\nlines",a\n' + "café,x\n".encode("latin-1") + b"q,a\n")

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 4: ") and "UTF-8" in error


@pytest.mark.django_db
@override_settings(IMPORT_MAX_LINE_BYTES=2048)
def test_csv_row_over_the_limit_in_many_small_fields_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    wide = ",".join(["q", "a"] + ["x" * 1000] * 3)
    path.write_text(f"input,output,b,c,d\nq,a,1,2,3\n{wide}\nq3,a3,1,2,3\n", encoding="utf-8")

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 3: ") and "2048" in error


@pytest.mark.django_db
def test_csv_with_carriage_return_line_endings_still_imports(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b"input,output\rq1,a1\rq2,a2\r")

    assert import_ok(project, path, "--origin", "real") == "imported 2, skipped 0 duplicates"
    assert [(row["input"], row["output"]) for row in stored(project)] == [("q1", "a1"), ("q2", "a2")]


def test_csv_whose_last_line_is_one_character_after_a_bare_carriage_return_is_read() -> None:
    # Mixed endings and no newline at the end: the bare CR is the next-to-last character.
    rows = list(read_rows(io.BytesIO(b"output\r\n1\r2"), "csv", max_line_bytes=1024))

    assert rows == [RawRow(2, {"output": "1"}), RawRow(3, {"output": "2"})]


# --- what the database cannot store, and what a reason must not quote whole -------------------


@pytest.mark.django_db
def test_unpaired_surrogate_in_a_label_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_bytes(jsonl_bytes(good_line(1), b'{"input": "q", "output": "a", "label": "x\\ud800"}'))

    error = refused_once(project, path, "--origin", "real")

    assert error.startswith("line 2: label")


@pytest.mark.django_db
def test_unpaired_surrogate_in_a_generator_name_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_bytes(jsonl_bytes(b'{"input": "q", "output": "a", "model": "gpt\\udc00"}'))

    error = refused_once(project, path, "--map", "generator=model")

    assert error.startswith("line 1: generator")


@pytest.mark.django_db
def test_a_huge_bad_value_is_not_quoted_whole_in_the_reason(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "origin.jsonl"
    path.write_bytes(jsonl_bytes(json.dumps({"input": "q", "output": "a", "kind": "r" * 100_000}).encode()))

    error = refused_once(project, path, "--origin", "real", "--map", "origin=kind")

    assert error.startswith("line 1: origin") and len(error) < 300


# --- the worker's path (web import) ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("use_copy", SINKS)
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (jsonl_bytes(good_line(1), b'{"input": "q", "output": "a", "meta": ' + nested(100_000) + b"}"), "line 2: "),
        (jsonl_bytes(good_line(1), good_line(2), b'{"input": "q", "output": "a", "score": NaN}'), "line 3: "),
        (jsonl_bytes(b'{"input": "q", "output": "a", "n": ' + b"1" * 5001 + b"}"), "line 1: "),
    ],
    ids=["deep", "nan", "digits"],
)
def test_worker_import_refuses_hostile_rows_with_their_line(
    project: Project, tmp_path: Path, use_copy: bool, content: bytes, expected: str
) -> None:
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(content)
    batch = import_batch_create(
        ProjectAccess.for_system(project, SystemActor("test")),
        path=path,
        file_name=path.name,
        fmt="jsonl",
        origin="real",
    )

    import_batch_run(batch_id=batch.pk, use_copy=use_copy)

    batch = ImportBatch.objects.get(pk=batch.pk)
    assert batch.status == ImportStatus.FAILED
    assert refusals([str(error) for error in batch.errors])[0].startswith(expected)
    assert_nothing_imported(project)
