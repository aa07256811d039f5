"""Rows an import skips because their generator already gave that exact content are
recorded with their lines, and the import page lists them with what each repeats."""

from __future__ import annotations

import json
import re
from collections import Counter
from html import unescape
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from generation.ingest.mapping import FieldMapping
from generation.models import ImportBatch, Sample
from generation.services import import_sinks as sinks
from generation.services.imports import import_batch_create, import_batch_run
from synthreview.projects.models import Project
from tests.generation.ingest_helpers import SINKS, write_jsonl
from tests.generation.run_helpers import setup_access
from tests.generation.test_ingest_real_data import alpaca_input, prediction_files, read_jsonl
from tests.reviews.review_helpers import XSS, XSS_ESCAPED

pytestmark = pytest.mark.django_db


def _import(
    project: Project,
    path: Path,
    *,
    generator: str = "gpt-x",
    use_copy: bool | None = None,
    origin: str = "synthetic",
    mapping: FieldMapping | None = None,
) -> ImportBatch:
    batch = import_batch_create(
        setup_access(project),
        path=path,
        file_name=path.name,
        fmt="jsonl",
        origin=origin,
        generator_name=generator if origin == "synthetic" else "",
        mapping=mapping,
    )
    return import_batch_run(batch_id=batch.pk, use_copy=use_copy)


def _page(client, batch: ImportBatch) -> str:
    response = client.get(reverse("import_detail", args=[batch.project.slug, batch.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _text(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.mark.parametrize("use_copy", SINKS)
def test_repeated_rows_are_listed_with_their_lines_and_what_they_repeat(project, lead, client_for, tmp_path, use_copy):
    first = _import(
        project,
        write_jsonl(
            tmp_path / "first.jsonl",
            [
                {"input": "2+2?", "output": "4"},
                {"input": "3+3?", "output": "6"},
            ],
        ),
        use_copy=use_copy,
    )
    assert (first.rows_imported, first.rows_duplicate, first.duplicate_lines) == (2, 0, [])
    four = Sample.objects.get(project=project, input="2+2?")

    second = _import(
        project,
        write_jsonl(
            tmp_path / "second.jsonl",
            [
                {"input": "5+5?", "output": "10"},  # line 1: new
                {"input": "2+2?", "output": "4"},  # line 2: the first import's sample
                {"input": "5+5?", "output": "10"},  # line 3: line 1 again
                {"input": "7+7?", "output": "14"},  # line 4: new
                {"input": "5+5?", "output": "10"},  # line 5: line 1 again
            ],
        ),
        use_copy=use_copy,
    )

    assert (second.rows_read, second.rows_imported, second.rows_duplicate) == (5, 2, 3)
    assert second.duplicate_lines == [
        {"line": 2, "source": "gpt-x", "same_as_sample": four.pk},
        {"line": 3, "source": "gpt-x", "same_as_line": 1},
        {"line": 5, "source": "gpt-x", "same_as_line": 1},
    ]
    assert second.duplicates_by_source == {"gpt-x": {"rows": 5, "repeated": 3}}
    text = _text(_page(client_for(lead), second))
    assert (
        "3 rows repeated earlier content from the same generator, gpt-x (60% of its 5 rows in this file): "
        "lines 2, 3, 5."
    ) in text
    page = _page(client_for(lead), second)
    assert f'href="{reverse("sample_detail", args=[project.slug, four.pk])}">sample #{four.pk}</a>' in page
    assert "line 1 of this file" in text


@pytest.mark.parametrize("use_copy", SINKS)
def test_a_repeat_in_a_later_chunk_names_the_sample_the_earlier_chunk_made(project, tmp_path, monkeypatch, use_copy):
    monkeypatch.setattr(sinks.PostgresCopySink, "CHUNK_ROWS", 2)
    monkeypatch.setattr(sinks.OrmSink, "CHUNK_ROWS", 2)
    batch = _import(
        project,
        write_jsonl(
            tmp_path / "chunks.jsonl",
            [
                {"input": "a", "output": "1"},
                {"input": "b", "output": "2"},  # chunk 1
                {"input": "c", "output": "3"},
                {"input": "a", "output": "1"},  # chunk 2: line 4 repeats line 1
            ],
        ),
        use_copy=use_copy,
    )
    first = Sample.objects.get(project=project, input="a")
    assert batch.duplicate_lines == [{"line": 4, "source": "gpt-x", "same_as_sample": first.pk}]


def test_other_generators_and_real_data_never_count_as_repeats(project, tmp_path):
    _import(project, write_jsonl(tmp_path / "real.jsonl", [{"input": "q", "output": "a"}]), origin="real")
    batch = _import(
        project,
        write_jsonl(
            tmp_path / "rows.jsonl",
            [
                {"input": "q", "output": "a", "generator": "gpt-x"},
                {"input": "q", "output": "a", "generator": "gpt-y"},
                {"input": "q", "output": "a", "generator": "gpt-x"},
            ],
        ),
        mapping=FieldMapping({"generator": "generator"}),
    )
    assert batch.rows_duplicate == 1
    assert batch.duplicate_lines == [{"line": 3, "source": "gpt-x", "same_as_line": 1}]
    assert batch.duplicates_by_source == {"gpt-x": {"rows": 2, "repeated": 1}}


def test_the_kept_lines_are_capped_but_the_counts_are_whole(project, tmp_path, monkeypatch):
    monkeypatch.setattr(sinks, "DUPLICATE_LINES_KEPT", 2)
    batch = _import(project, write_jsonl(tmp_path / "same.jsonl", [{"input": "x", "output": "y"}] * 5))
    assert batch.duplicate_lines == [
        {"line": 2, "source": "gpt-x", "same_as_line": 1},
        {"line": 3, "source": "gpt-x", "same_as_line": 1},
    ]
    assert batch.duplicates_by_source == {"gpt-x": {"rows": 5, "repeated": 4}}


def test_lead_uploading_on_the_page_sees_the_repeated_lines(
    project, lead, client_for, run_tasks_inline, django_capture_on_commit_callbacks, monkeypatch
):
    from reviews.tasks import similarity_job_task

    monkeypatch.setattr(similarity_job_task, "delay", lambda job_id: None)  # no embedding in this test
    client = client_for(lead)
    body = (
        b'{"input": "2+2?", "output": "4"}\n{"input": "3+3?", "output": "6"}\n'
        b'{"input": "2+2?", "output": "4"}\n{"input": "2+2?", "output": "4"}\n'
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("import_new", args=[project.slug]),
            {"file": SimpleUploadedFile("batch.jsonl", body), "origin": "synthetic", "generator": XSS},
        )
    text = _text(client.get(response["Location"]).content.decode())
    assert (
        f"2 rows repeated earlier content from the same generator, {XSS} (50% of its 4 rows in this file): "
        "lines 3, 4." in text
    )
    assert XSS_ESCAPED in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize("use_copy", SINKS)
def test_eight_davinci_models_imported_as_one_generator_show_where_it_repeated_itself(
    project, lead, client_for, tmp_path, shared_data, use_copy
):
    """Real responses: the eight models of Self-Instruct's predictions, merged into one file
    as one generator. Where two models gave the same answer to the same prompt, the
    generator repeated itself; the expected lines are found here from the raw files."""
    rows = [row for path in prediction_files(shared_data).values() for row in read_jsonl(path)]
    merged = write_jsonl(
        tmp_path / "davinci-family.jsonl",
        [{"instruction": row["instruction"], "input": row["input"], "output": row["response"]} for row in rows],
    )
    first_line: dict[tuple[str, str], int] = {}
    expected = []
    for line, row in enumerate(rows, start=1):
        key = (alpaca_input(row).strip(), row["response"].strip())
        if key in first_line:
            expected.append({"line": line, "source": "davinci-family", "same_as_line": first_line[key]})
        else:
            first_line[key] = line
    assert len(rows) == 2_016 and len(expected) == sum(
        n - 1 for n in Counter((alpaca_input(r).strip(), r["response"].strip()) for r in rows).values()
    )

    batch = _import(project, merged, generator="davinci-family", use_copy=use_copy)

    assert batch.rows_duplicate == len(expected) > 100
    assert [entry["line"] for entry in batch.duplicate_lines] == [entry["line"] for entry in expected]
    # Each repeat names where its content came first: a line of this chunk, or the sample an
    # earlier chunk made from it (chunks are 5,000 rows for COPY, 2,000 for the ORM).
    stored = dict(Sample.objects.filter(project=project).values_list("pk", "input"))
    for entry, wanted in zip(batch.duplicate_lines, expected):
        if "same_as_line" in entry:
            assert entry["same_as_line"] == wanted["same_as_line"]
        else:
            assert stored[entry["same_as_sample"]] == alpaca_input(rows[wanted["same_as_line"] - 1])
    first_lines = ", ".join(str(entry["line"]) for entry in expected[:12])
    assert (
        f"{len(expected)} rows repeated earlier content from the same generator, davinci-family "
        f"({round(100 * len(expected) / 2016)}% of its 2,016 rows in this file): lines {first_lines}, … None"
    ) in _text(_page(client_for(lead), batch))
    assert Sample.objects.filter(project=project).count() == 2_016 - len(expected)
    assert json.loads(json.dumps(batch.duplicates_by_source)) == {
        "davinci-family": {"rows": 2_016, "repeated": len(expected)}
    }
