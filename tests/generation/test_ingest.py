"""The sample import: every format through the CLI, both sinks, all or nothing,
and idempotent re-import.

Expected values are written out by hand from the files each test writes; the
Alpaca layout stores "instruction\\n\\ninput" as the input (input left out when blank).
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from generation.ingest.mapping import FieldMapping
from generation.models import Generator, ImportBatch, ImportStatus, PromptTemplate, Sample
from generation.services.imports import import_batch_create, import_batch_run
from synthreview.projects.models import AuditLog, Project
from tests.generation.ingest_helpers import (
    ALPACA_ROWS,
    SINKS,
    assert_nothing_imported,
    counters,
    expected_alpaca,
    import_fails,
    import_ok,
    project_state,
    stored,
    write_csv,
    write_jsonl,
    write_rows,
)
from tests.generation.run_helpers import setup_access


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_cli_imports_every_format_with_generator_and_template(project: Project, tmp_path: Path, fmt: str) -> None:
    path = write_rows(tmp_path, fmt, ALPACA_ROWS)

    output = import_ok(project, path, "--generator", "gpt-x", "--template", "qa-v1")

    assert output == "imported 3, skipped 0 duplicates"
    assert stored(project) == expected_alpaca("gpt-x", "qa-v1")
    assert set(Sample.objects.filter(project=project).values_list("status", flat=True)) == {"pending"}
    assert counters(project) == {("synthetic", "pending"): 3}
    batch = ImportBatch.objects.get(project=project)
    assert (batch.status, batch.format, batch.rows_imported, batch.rows_duplicate) == ("completed", fmt, 3, 0)
    assert set(Sample.objects.values_list("import_batch_id", flat=True)) == {batch.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_cli_imports_every_format_as_real_data(project: Project, tmp_path: Path, fmt: str) -> None:
    path = write_rows(tmp_path, fmt, ALPACA_ROWS)

    assert import_ok(project, path, "--origin", "real") == "imported 3, skipped 0 duplicates"

    assert stored(project) == expected_alpaca(None, None, origin="real")
    assert counters(project) == {("real", "pending"): 3}
    assert not Generator.objects.filter(project=project).exists()
    assert not PromptTemplate.objects.filter(project=project).exists()


@pytest.mark.django_db
def test_format_option_overrides_the_file_name(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "samples.txt", ALPACA_ROWS)

    assert import_ok(project, path, "--origin", "real", "--format", "jsonl") == "imported 3, skipped 0 duplicates"


@pytest.mark.django_db
def test_progress_bar_does_not_disturb_the_result(project: Project, tmp_path: Path) -> None:
    rows = [{"input": f"question {n}", "output": f"answer {n}"} for n in range(12_000)]
    path = write_jsonl(tmp_path / "big.jsonl", rows)
    out, err = StringIO(), StringIO()

    call_command("import_samples", project.slug, str(path), "--origin", "real", stdout=out, stderr=err)

    assert out.getvalue().strip() == "imported 12000, skipped 0 duplicates"
    assert "12,000" in err.getvalue()  # the bar was drawn, on stderr, up to the last row
    assert counters(project) == {("real", "pending"): 12_000}


# --- the COPY sink and the ORM sink agree -----------------------------------

TRICKY_ROWS = [
    # Characters that COPY's text format must escape: tab, newline, backslash, "\N".
    {
        "input": "a\tb\\c",
        "output": "line one\nline two\r\nthree",
        "label": None,
        "model": "m1",
        "kind": "synthetic",
        "extra": {"nested": [1, 2]},
    },
    {"input": "\\N", "output": "é 漢字 🙂", "label": "ok", "model": "m2", "kind": "synthetic", "extra": None},
    # Same content as the first row, same generator: a duplicate, the first one wins.
    {
        "input": "a\tb\\c",
        "output": "line one\nline two\r\nthree",
        "label": "later",
        "model": "m1",
        "kind": "synthetic",
        "extra": "second",
    },
    # Same content as the first row from another generator: kept.
    {
        "input": "a\tb\\c",
        "output": "line one\nline two\r\nthree",
        "label": None,
        "model": "m2",
        "kind": "synthetic",
        "extra": None,
    },
    {"input": "real question", "output": "real answer", "label": None, "model": "", "kind": "real", "extra": None},
    {"input": "real question", "output": "real answer", "label": None, "model": "", "kind": "real", "extra": None},
]


def run_service(project: Project, path: Path, *, use_copy: bool, **options: Any) -> ImportBatch:
    batch = import_batch_create(setup_access(project), path=path, file_name=path.name, fmt=path.suffix[1:], **options)
    return import_batch_run(batch_id=batch.pk, use_copy=use_copy)


@pytest.mark.django_db
@pytest.mark.parametrize("use_copy", SINKS)
def test_copy_and_orm_sinks_store_the_same_samples(project: Project, tmp_path: Path, use_copy: bool) -> None:
    path = write_jsonl(tmp_path / "tricky.jsonl", TRICKY_ROWS)

    batch = run_service(
        project,
        path,
        use_copy=use_copy,
        origin="synthetic",
        template_name="t1",
        mapping=FieldMapping.parse(["origin=kind", "generator=model"]),
    )

    assert (batch.status, batch.rows_read, batch.rows_imported, batch.rows_duplicate) == ("completed", 6, 4, 2)
    assert batch.errors == []
    assert stored(project) == [
        {
            "origin": "synthetic",
            "generator": "m1",
            "template": "t1",
            "input": "a\tb\\c",
            "output": "line one\nline two\r\nthree",
            "label": None,
            "metadata": {"extra": {"nested": [1, 2]}},
        },
        {
            "origin": "synthetic",
            "generator": "m2",
            "template": "t1",
            "input": "\\N",
            "output": "é 漢字 🙂",
            "label": "ok",
            "metadata": {"extra": None},
        },
        {
            "origin": "synthetic",
            "generator": "m2",
            "template": "t1",
            "input": "a\tb\\c",
            "output": "line one\nline two\r\nthree",
            "label": None,
            "metadata": {"extra": None},
        },
        {
            "origin": "real",
            "generator": None,
            "template": None,
            "input": "real question",
            "output": "real answer",
            "label": None,
            "metadata": {"extra": None},
        },
    ]
    assert counters(project) == {("synthetic", "pending"): 3, ("real", "pending"): 1}
    assert sorted(Generator.objects.filter(project=project).values_list("name", flat=True)) == ["m1", "m2"]


@pytest.mark.django_db
@pytest.mark.postgres(reason="each case imports once through the COPY sink")
@pytest.mark.parametrize("use_copy", [True, False], ids=["copy", "orm"])
def test_both_sinks_skip_content_already_in_the_project(project: Project, tmp_path: Path, use_copy: bool) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", [{"input": "q1", "output": "a1"}, {"input": "q2", "output": "a2"}])
    second = write_jsonl(tmp_path / "second.jsonl", [{"input": "q2", "output": "a2"}, {"input": "q3", "output": "a3"}])
    run_service(project, first, use_copy=not use_copy, origin="synthetic", generator_name="g")

    batch = run_service(project, second, use_copy=use_copy, origin="synthetic", generator_name="g")

    assert (batch.rows_imported, batch.rows_duplicate) == (1, 1)
    assert [row["input"] for row in stored(project)] == ["q1", "q2", "q3"]
    assert counters(project) == {("synthetic", "pending"): 3}


@pytest.mark.django_db
@pytest.mark.parametrize("use_copy", SINKS)
def test_running_a_batch_twice_imports_it_once(project: Project, tmp_path: Path, use_copy: bool) -> None:
    path = write_jsonl(tmp_path / "once.jsonl", [{"input": "q", "output": "a"}])
    batch = import_batch_create(setup_access(project), path=path, file_name=path.name, fmt="jsonl", origin="real")
    import_batch_run(batch_id=batch.pk, use_copy=use_copy)

    again = import_batch_run(batch_id=batch.pk, use_copy=use_copy)

    assert (again.status, again.rows_imported) == (ImportStatus.COMPLETED, 1)
    assert Sample.objects.filter(project=project).count() == 1
    assert counters(project) == {("real", "pending"): 1}
    assert AuditLog.objects.filter(action="import", object_id=str(batch.pk)).count() == 1


# --- all or nothing ----------------------------------------------------------


def seed_project(project: Project, tmp_path: Path) -> dict[str, Any]:
    path = write_jsonl(tmp_path / "earlier.jsonl", [{"input": "old q", "output": "old a"}])
    assert import_ok(project, path, "--generator", "earlier-gen", "--template", "earlier-tmpl") == (
        "imported 1, skipped 0 duplicates"
    )
    return project_state(project)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("use_copy", SINKS)
def test_bad_row_in_middle_leaves_project_unchanged(project: Project, tmp_path: Path, use_copy: bool) -> None:
    # 5,100 good rows first, more than either sink holds before it writes a chunk
    # (and creates the generator): only a real rollback undoes those writes.
    rows = [{"input": f"q{n}", "output": f"a{n}"} for n in range(5100)]
    rows.append({"input": "no answer here"})
    rows += [{"input": f"r{n}", "output": f"b{n}"} for n in range(50)]
    path = write_jsonl(tmp_path / "middle.jsonl", rows)
    before = seed_project(project, tmp_path)
    audit_entries = AuditLog.objects.count()

    batch = run_service(
        project, path, use_copy=use_copy, origin="synthetic", generator_name="new-gen", template_name="new-tmpl"
    )

    assert batch.status == ImportStatus.FAILED
    assert batch.errors == ["line 5101: missing output"]
    assert batch.rows_imported == 0
    assert project_state(project) == before
    assert not Sample.objects.filter(import_batch=batch).exists()
    assert AuditLog.objects.count() == audit_entries


@pytest.mark.django_db(transaction=True)
def test_cli_bad_lines_are_all_reported_and_nothing_is_written(project: Project, tmp_path: Path) -> None:
    lines = [
        json.dumps({"input": "q1", "output": "a1"}),
        json.dumps({"input": "q2", "output": "a2"}),
        '{"input": "q3", "output": ',
        json.dumps({"input": "q4", "output": "a4"}),
        json.dumps({"input": "q5", "output": "a5"}),
        json.dumps({"input": "q6", "output": "a6"}),
        json.dumps({"input": "q7"}),
        json.dumps({"input": "q8", "output": "a8"}),
        json.dumps({"input": "q9", "output": {"text": "a9"}}),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = seed_project(project, tmp_path)

    message, errors = import_fails(project, path, "--generator", "new-gen", "--template", "new-tmpl")

    assert len(errors) == 3
    assert errors[0].startswith("line 3: invalid JSON")
    assert errors[1] == "line 7: missing output"
    assert errors[2].startswith("line 9: output") and "object" in errors[2]
    assert "3" in message
    assert project_state(project) == before


@pytest.mark.django_db(transaction=True)
def test_failed_import_is_recorded_as_failed_batch(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"input": "q1", "output": "a1"}, {"input": "q2"}])

    import_fails(project, path, "--origin", "real")

    batch = ImportBatch.objects.get(project=project)
    assert batch.status == ImportStatus.FAILED
    assert batch.errors == ["line 2: missing output"]
    assert batch.finished_at is not None


@pytest.mark.django_db
def test_more_than_fifty_bad_lines_list_fifty_and_count_them_all(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"input": f"q{n}"} for n in range(80)])

    message, errors = import_fails(project, path, "--origin", "real")

    assert errors[:50] == [f"line {n}: missing output" for n in range(1, 51)]
    assert message == "nothing imported: showing the first 50 of 80 problems in bad.jsonl"
    # After the lines, only the advice for the whole file (no row has an output column), once.
    assert len(errors) == 51 and "--map output=COLUMN" in errors[50]
    assert_nothing_imported(project)


# --- idempotent re-import and duplicates -----------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_importing_the_same_file_twice_adds_nothing_the_second_time(project: Project, tmp_path: Path, fmt: str) -> None:
    path = write_rows(tmp_path, fmt, ALPACA_ROWS)
    assert import_ok(project, path, "--generator", "g") == "imported 3, skipped 0 duplicates"
    before = project_state(project)

    assert import_ok(project, path, "--generator", "g") == "imported 0, skipped 3 duplicates"

    assert project_state(project) == before
    assert counters(project) == {("synthetic", "pending"): 3}


@pytest.mark.django_db
def test_identical_content_within_one_file_counts_as_duplicate(project: Project, tmp_path: Path) -> None:
    rows = [
        {"input": "q", "output": "a", "note": "first"},
        {"input": "other", "output": "b"},
        {"input": "q", "output": "a", "note": "second"},
        # Surrounding whitespace and Windows line ends do not make new content.
        {"input": "  q\r\n", "output": "a  ", "note": "third"},
    ]
    path = write_jsonl(tmp_path / "dups.jsonl", rows)

    assert import_ok(project, path, "--generator", "g") == "imported 2, skipped 2 duplicates"

    kept = stored(project)
    assert [(row["input"], row["metadata"]) for row in kept] == [("q", {"note": "first"}), ("other", {})]
    assert counters(project) == {("synthetic", "pending"): 2}


@pytest.mark.django_db
def test_identical_real_rows_are_duplicates_but_a_synthetic_twin_is_kept(project: Project, tmp_path: Path) -> None:
    real = write_jsonl(tmp_path / "real.jsonl", [{"input": "q", "output": "a"}, {"input": "q", "output": "a"}])
    synthetic = write_jsonl(tmp_path / "synthetic.jsonl", [{"input": "q", "output": "a"}])

    assert import_ok(project, real, "--origin", "real") == "imported 1, skipped 1 duplicates"
    assert import_ok(project, synthetic, "--generator", "g") == "imported 1, skipped 0 duplicates"

    assert counters(project) == {("real", "pending"): 1, ("synthetic", "pending"): 1}


@pytest.mark.django_db
def test_identical_content_from_two_generators_is_kept(project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "same.jsonl", [{"input": "q", "output": "a"}, {"input": "q2", "output": "a2"}])

    assert import_ok(project, path, "--generator", "alpha") == "imported 2, skipped 0 duplicates"
    assert import_ok(project, path, "--generator", "beta") == "imported 2, skipped 0 duplicates"

    by_hash: dict[str, set[str]] = {}
    for content, name in Sample.objects.filter(project=project).values_list("content_hash", "generator__name"):
        by_hash.setdefault(content, set()).add(name)
    assert sorted(map(sorted, by_hash.values())) == [["alpha", "beta"], ["alpha", "beta"]]
    assert counters(project) == {("synthetic", "pending"): 4}


@pytest.mark.django_db
def test_one_file_with_a_generator_column_keeps_each_generators_copy(project: Project, tmp_path: Path) -> None:
    rows = [
        {"input": "q", "output": "a", "model": "alpha"},
        {"input": "q", "output": "a", "model": "beta"},
        {"input": "q", "output": "a", "model": "alpha"},
    ]
    path = write_csv(tmp_path / "models.csv", ["input", "output", "model"], [list(row.values()) for row in rows])

    output = import_ok(project, path, "--map", "generator=model")

    assert output == "imported 2, skipped 1 duplicates"
    assert [row["generator"] for row in stored(project)] == ["alpha", "beta"]


@pytest.mark.django_db
def test_import_into_one_project_leaves_another_alone(project: Project, other_project: Project, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"input": "q", "output": "a"}])
    assert import_ok(other_project, path, "--generator", "g") == "imported 1, skipped 0 duplicates"

    assert import_ok(project, path, "--generator", "g") == "imported 1, skipped 0 duplicates"

    assert counters(other_project) == {("synthetic", "pending"): 1}
    assert counters(project) == {("synthetic", "pending"): 1}
    assert Generator.objects.filter(name="g").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize("use_copy", SINKS)
def test_a_hash_prefix_collision_never_drops_a_row(
    project: Project, tmp_path: Path, use_copy: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generation.services import import_sinks as sinks

    # Every hash "collides": each row after the first must be checked against the
    # database, and only the true repeats may be skipped.
    monkeypatch.setattr(sinks, "hash_prefix", lambda digest: 0)
    monkeypatch.setattr(sinks._ChunkedSink, "CHUNK_ROWS", 3)
    rows = [{"input": f"q{i % 7}", "output": f"a{i % 7}"} for i in range(20)]
    path = write_jsonl(tmp_path / "collide.jsonl", rows)
    batch = import_batch_run(
        batch_id=import_batch_create(
            setup_access(project), path=path, file_name=path.name, fmt="jsonl", origin="synthetic", generator_name="g"
        ).pk,
        use_copy=use_copy,
    )
    assert (batch.rows_imported, batch.rows_duplicate) == (7, 13)
    assert sorted(Sample.objects.filter(project=project).values_list("input", flat=True)) == [f"q{i}" for i in range(7)]
