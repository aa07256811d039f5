"""Helpers shared by the test_ingest*.py files: write files in each format, run
the import command, and read back what the project holds."""

from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from generation.models import Generator, PromptTemplate, Sample
from synthreview.projects.models import Project, SampleCount

# The two sinks as a `use_copy` parameter: COPY is PostgreSQL's, so its case is left out on SQLite.
SINKS = [
    pytest.param(True, id="copy", marks=pytest.mark.postgres(reason="the COPY sink is PostgreSQL's")),
    pytest.param(False, id="orm"),
]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


def write_json_array(path: Path, rows: list[dict[str, Any]]) -> Path:
    # One element per line, so element n starts on line n + 1.
    body = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    path.write_text(f"[\n{body}\n]\n", encoding="utf-8")
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_rows(tmp_path: Path, fmt: str, rows: list[dict[str, Any]], stem: str = "samples") -> Path:
    """The same rows in any format; CSV takes the keys of the first row as its header."""
    path = tmp_path / f"{stem}.{fmt}"
    if fmt == "jsonl":
        return write_jsonl(path, rows)
    if fmt == "json":
        return write_json_array(path, rows)
    if fmt == "csv":
        header = list(rows[0])
        return write_csv(path, header, [[row[name] for name in header] for row in rows])
    return write_parquet(path, rows)


def import_ok(project: Project, path: Path, *args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("import_samples", project.slug, str(path), "--no-progress", *args, stdout=out, stderr=err)
    return out.getvalue().strip()


def import_fails(project: Project, path: Path, *args: str) -> tuple[str, list[str]]:
    """The CommandError's message and the error lines written to stderr."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_samples", project.slug, str(path), "--no-progress", *args, stdout=out, stderr=err)
    assert "imported" not in out.getvalue()
    return str(failure.value), err.getvalue().splitlines()


def counters(project: Project) -> dict[tuple[str, str], int]:
    return {(row.origin, row.status): row.count for row in SampleCount.objects.filter(project=project)}


def counted_samples(project: Project) -> dict[tuple[str, str], int]:
    """What the counters should say, by counting the rows themselves."""
    result: dict[tuple[str, str], int] = {}
    for origin, status in Sample.objects.filter(project=project).values_list("origin", "status"):
        result[(origin, status)] = result.get((origin, status), 0) + 1
    return result


def project_state(project: Project) -> dict[str, Any]:
    return {
        "samples": sorted(Sample.objects.filter(project=project).values_list("pk", flat=True)),
        "generators": sorted(Generator.objects.filter(project=project).values_list("name", flat=True)),
        "templates": sorted(PromptTemplate.objects.filter(project=project).values_list("name", flat=True)),
        "counters": counters(project),
    }


def assert_nothing_imported(project: Project) -> None:
    assert project_state(project) == {"samples": [], "generators": [], "templates": [], "counters": {}}


def stored(project: Project) -> list[dict[str, Any]]:
    """Every sample of the project in insertion order, as plain values."""
    samples = (
        Sample.objects.filter(project=project).select_related("generator", "template_version__template").order_by("pk")
    )
    return [
        {
            "origin": sample.origin,
            "generator": sample.generator.name if sample.generator else None,
            "template": sample.template_version.template.name if sample.template_version else None,
            "input": sample.input,
            "output": sample.output,
            "label": sample.label,
            "metadata": sample.metadata,
        }
        for sample in samples
    ]


# --- every format through the CLI -------------------------------------------

ALPACA_ROWS = [
    {"instruction": "Add 2 and 3.", "input": "", "output": "5", "label": "easy", "source": "hand"},
    {"instruction": "Translate to French.", "input": "cat", "output": "chat", "label": "", "source": "book"},
    {"instruction": "Name a prime.", "input": "", "output": "7", "label": "easy", "source": "hand"},
]


def expected_alpaca(generator: str | None, template: str | None, origin: str = "synthetic") -> list[dict[str, Any]]:
    return [
        {
            "origin": origin,
            "generator": generator,
            "template": template,
            "input": "Add 2 and 3.",
            "output": "5",
            "label": "easy",
            "metadata": {"source": "hand"},
        },
        {
            "origin": origin,
            "generator": generator,
            "template": template,
            "input": "Translate to French.\n\ncat",
            "output": "chat",
            "label": None,
            "metadata": {"source": "book"},
        },
        {
            "origin": origin,
            "generator": generator,
            "template": template,
            "input": "Name a prime.",
            "output": "7",
            "label": "easy",
            "metadata": {"source": "hand"},
        },
    ]
