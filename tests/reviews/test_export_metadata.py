"""A sample's metadata is a JSON object in a JSONL export, written by the database (PostgreSQL's COPY)
and by the Python writer alike; CSV and Parquet keep the same object as JSON text in a cell."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import JSONField, Value

from generation.models import Generator, Sample
from reviews.governance.gates import lineage_names
from reviews.governance.writers import COLUMNS, jsonl_line, jsonl_lines, write_jsonl
from reviews.selectors.exports import export_rows, export_template_versions
from tests.reviews.export_helpers import exported, jsonl_rows
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")

OVERRIDE = "Metadata test: the generators' audits are not what is tested here."
NESTED = {
    "source": "tést ✓ 日本語 🧪",
    "difficulty": 0.25,
    "tiny": 1.5e-7,
    "big": 12345678901234567890,
    "nested": {"list": [1, 2.5, None, True, "<b>x</b>"], "empty": {}, "quote": 'say "hi" \\ \n'},
    "zz": False,
    "a": "first key by length",
}


def _python_writer_bytes(export, path: Path) -> bytes:
    project = export.project
    models = {g.pk: g.model_name for g in Generator.objects.filter(project=project)}
    write_jsonl(export_rows(export, lineage_names(project), export_template_versions(project), models), path)
    return path.read_bytes()


def _by_id(export) -> dict[int, dict]:
    return {row["id"]: row for row in jsonl_rows(export.stored_path)}


def test_jsonl_metadata_is_an_object_with_the_samples_values(project, lead):
    nested = add_samples(project, 2, gen=generator(project, "gen-a"), status="accepted", metadata=NESTED)
    empty = add_samples(project, 1, origin="real", status="accepted", metadata={})
    plain = add_samples(project, 1, origin="real", status="accepted", metadata={"k": "v"})[0]
    export = exported(project, lead, audit_override_reason=OVERRIDE)
    assert export.status == "completed", export.refusals

    rows = _by_id(export)
    for sample in nested:
        assert isinstance(rows[sample.pk]["metadata"], dict)
        assert rows[sample.pk]["metadata"] == NESTED
    assert rows[nested[0].pk]["metadata"]["nested"]["list"][1] == 2.5
    assert rows[nested[0].pk]["metadata"]["big"] == 12345678901234567890
    assert rows[empty[0].pk]["metadata"] == {}
    assert rows[plain.pk]["metadata"] == {"k": "v"}
    # The object sits in the line itself, not as a quoted string.
    line = next(
        text for text in Path(export.stored_path).read_text(encoding="utf-8").split("\n") if f'"id":{plain.pk},' in text
    )
    assert line.endswith('"metadata":{"k": "v"}}') or line.endswith('"metadata":{"k":"v"}}')


def test_metadata_that_is_not_an_object_comes_out_as_one(project, lead):
    samples = add_samples(project, 4, origin="real", status="accepted")
    Sample.objects.filter(pk=samples[0].pk).update(metadata=[1, "two"])
    Sample.objects.filter(pk=samples[1].pk).update(metadata="just text")
    Sample.objects.filter(pk=samples[2].pk).update(metadata=7)
    Sample.objects.filter(pk=samples[3].pk).update(metadata=Value(None, JSONField()))
    export = exported(project, lead)
    assert export.status == "completed", export.refusals
    rows = _by_id(export)
    assert [rows[s.pk]["metadata"] for s in samples] == [
        {"value": [1, "two"]},
        {"value": "just text"},
        {"value": 7},
        {},
    ]


@on_postgresql
def test_the_database_and_the_python_writer_write_the_same_metadata_bytes(project, lead, tmp_path):
    samples = add_samples(project, 3, gen=generator(project, "gen-a"), status="accepted", metadata=NESTED)
    add_samples(project, 1, origin="real", status="accepted", metadata={})
    odd = add_samples(project, 2, origin="real", status="accepted")
    Sample.objects.filter(pk=odd[0].pk).update(metadata=["a", {"b": 1}])
    Sample.objects.filter(pk=odd[1].pk).update(metadata=Value(None, JSONField()))
    # Number text as jsonb keeps it (1.50 stays 1.50, 1E+20 becomes its digits) and keys jsonb reorders.
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE generation_sample SET metadata = '{"ccc": 1.50, "bb": 1E+20, "a": -0.0, "é": "\\u00e9"}'::jsonb
            WHERE id = %s""",
            [samples[0].pk],
        )
    export = exported(project, lead, audit_override_reason=OVERRIDE)
    assert export.status == "completed", export.refusals

    written = Path(export.stored_path).read_bytes()
    assert written == _python_writer_bytes(export, tmp_path / "python.jsonl")
    rows = _by_id(export)
    assert rows[samples[0].pk]["metadata"] == {"ccc": 1.5, "bb": 1e20, "a": -0.0, "é": "é"}
    assert rows[samples[1].pk]["metadata"] == NESTED
    assert rows[odd[0].pk]["metadata"] == {"value": ["a", {"b": 1}]}
    assert rows[odd[1].pk]["metadata"] == {}
    assert all(isinstance(row["metadata"], dict) for row in rows.values())


def test_csv_keeps_the_metadata_object_as_json_text_in_its_cell(project, lead):
    sample = add_samples(project, 1, origin="real", status="accepted", metadata=NESTED)[0]
    export = exported(project, lead, format="csv")
    assert export.status == "completed", export.refusals
    with open(export.stored_path, encoding="utf-8", newline="") as handle:
        header, row = list(csv.reader(handle))
    cell = dict(zip(header, row, strict=True))
    assert int(cell["id"]) == sample.pk
    assert json.loads(cell["metadata"]) == NESTED


def test_parquet_keeps_the_metadata_object_as_json_text(project, lead):
    import pyarrow.parquet as pq

    sample = add_samples(project, 1, origin="real", status="accepted", metadata=NESTED)[0]
    export = exported(project, lead, format="parquet")
    assert export.status == "completed", export.refusals
    table = pq.read_table(export.stored_path)
    assert str(table.schema.field("metadata").type) == "string"
    assert table.column("id").to_pylist() == [sample.pk]
    assert json.loads(table.column("metadata").to_pylist()[0]) == NESTED


def _row(metadata: object) -> tuple:
    return (1, "q", "a", None, "real", False, None, None, None, None, None, 0, None, "h" * 64, metadata)


def test_the_line_writer_puts_metadata_text_in_the_line_as_an_object():
    assert len(_row("{}")) == len(COLUMNS)
    line = jsonl_line(_row('{"k": [1, 2.5]}'))
    assert line.endswith('"metadata":{"k": [1, 2.5]}}\n')
    assert json.loads(line)["metadata"] == {"k": [1, 2.5]}
    rows = [_row('{"a": "ü"}'), _row("{}"), _row('{"x": {"y": null}}')]
    assert jsonl_lines(rows) == b"".join(jsonl_line(row).encode() for row in rows)


def test_metadata_text_with_a_line_break_still_makes_one_line():
    rows = [_row('{\n  "k": "v"\r\n}'), _row('{"a": 1}')]
    written = jsonl_lines(rows)
    assert written == b"".join(jsonl_line(row).encode() for row in rows)
    lines = written.decode().split("\n")[:-1]
    assert len(lines) == 2
    assert [json.loads(line)["metadata"] for line in lines] == [{"k": "v"}, {"a": 1}]


def test_a_metadata_cell_that_is_not_json_text_is_refused():
    with pytest.raises(TypeError):
        jsonl_lines([_row({"k": "v"})])
    with pytest.raises(TypeError):
        jsonl_line(_row(None))


def test_jsonl_metadata_loads_with_datasets_as_a_dict_column(project, lead, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    add_samples(project, 2, origin="real", status="accepted", metadata={"source": "hand", "n": 2})
    add_samples(project, 1, origin="real", status="accepted", metadata={})
    export = exported(project, lead)
    loaded = datasets.load_dataset(
        "json", data_files=export.stored_path, split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    metadata = list(loaded["metadata"])
    assert all(isinstance(value, dict) for value in metadata)
    assert metadata[:2] == [{"source": "hand", "n": 2}] * 2
    # A row without a key reads as the empty object, or (as a struct column) with the key unset.
    assert metadata[2] in ({}, {"source": None, "n": None})
