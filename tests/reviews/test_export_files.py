"""What an export writes: manifest figures that match the data, byte-identical
files for one selection, CSV cells a spreadsheet cannot run, server-built file
paths, and files a training job loads with `datasets`."""

from __future__ import annotations

import csv
import hashlib
import uuid
from collections import Counter
from pathlib import Path

import pytest

from generation.models import Sample
from tests.reviews.export_helpers import EXPORT_COLUMNS, exported, jsonl_rows
from tests.reviews.review_helpers import add_samples, generator, run, template_version

pytestmark = pytest.mark.django_db

OVERRIDE = "File-format test: the generators' audits are not what is tested here."
FORMATS = ["jsonl", "csv", "parquet"]


def _file_sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _lineage_project(project) -> dict:
    """Samples across origins, generators, template versions, runs, depths and statuses."""
    tpl_a, tpl_b = template_version(project, "tpl-a"), template_version(project, "tpl-b")
    gen_a, gen_b, gen_c = (generator(project, name) for name in ("gen-a", "gen-b", "gen-c"))
    run_1, run_2 = run(project, "run-1", tpl_a, gen_a), run(project, "run-2", tpl_b, gen_b)
    samples = [
        *add_samples(project, 5, origin="real", status="accepted"),
        *add_samples(project, 2, origin="real", status="pending"),
        *add_samples(project, 1, origin="real", status="rejected"),
        *add_samples(project, 6, gen=gen_a, run=run_1, template_version=tpl_a, status="accepted"),
        *add_samples(project, 2, gen=gen_a, run=run_1, template_version=tpl_a, status="accepted", generation_depth=1),
        *add_samples(project, 3, gen=gen_a, run=run_1, template_version=tpl_a, status="pending"),
        *add_samples(project, 4, gen=gen_b, run=run_2, template_version=tpl_b, status="accepted"),
        *add_samples(project, 3, gen=gen_b, run=run_2, template_version=tpl_b, status="accepted", generation_depth=2),
        *add_samples(project, 2, gen=gen_c, status="accepted"),
        *add_samples(project, 1, gen=gen_c, status="accepted", generation_depth=3),
    ]
    return {"samples": samples, "excluded": gen_c}


def test_manifest_figures_match_counts_made_from_the_samples(project, lead):
    made = _lineage_project(project)
    samples = Sample.objects.filter(pk__in=[s.pk for s in made["samples"]]).select_related(
        "generator", "run", "template_version__template"
    )
    accepted = [s for s in samples if s.status == "accepted"]
    excluded = [s for s in accepted if s.generator_id == made["excluded"].pk]
    too_deep = [s for s in accepted if s not in excluded and s.generation_depth > 1]
    included = [s for s in accepted if s not in excluded and s not in too_deep]

    export = exported(project, lead, excluded_generator_ids=[made["excluded"].pk], audit_override_reason=OVERRIDE)
    assert export.status == "completed", export.refusals
    manifest = export.manifest
    counts = manifest["counts"]

    def table(rows: list[dict]) -> dict:
        return {row["name"]: row["samples"] for row in rows}

    assert counts["total"] == len(included) == 17
    assert counts["by_origin"] == dict(Counter(s.origin for s in included)) == {"real": 5, "synthetic": 12}
    assert table(counts["by_generator"]) == dict(Counter(s.generator.name if s.generator else None for s in included))
    assert table(counts["by_template_version"]) == dict(
        Counter(
            f"{s.template_version.template.name} v{s.template_version.version}" if s.template_version else None
            for s in included
        )
    )
    assert table(counts["by_run"]) == dict(Counter(s.run.name if s.run else None for s in included))
    assert manifest["real_share"] == pytest.approx(5 / 17)
    assert manifest["synthetic_share"] == pytest.approx(12 / 17)
    # A too-deep sample of an excluded generator is held back once, under the generator.
    assert manifest["held_back"] == {
        "eval_member": 0,
        "eval_leak": 0,
        "leak_unchecked": 0,
        "excluded_generator": len(excluded),
        "too_deep": len(too_deep),
    }
    assert (len(excluded), len(too_deep)) == (3, 3)
    assert manifest["selection"]["excluded_generators"] == ["gen-c"]
    assert manifest["selection"]["max_generation_depth"] == 1
    assert manifest["created_by"] == lead.username and manifest["eval_set"] is None
    assert manifest["file"]["rows"] == export.rows_written == len(included)
    assert manifest["file"]["sha256"] == export.sha256 == _file_sha256(export.stored_path)

    rows = jsonl_rows(export.stored_path)
    assert [row["id"] for row in rows] == sorted(s.pk for s in included)
    by_id = {s.pk: s for s in included}
    for row in rows:
        sample = by_id[row["id"]]
        assert row["synthetic"] is (sample.origin == "synthetic")
        assert row["generator"] == (sample.generator.name if sample.generator else None)
        assert row["run"] == (sample.run.name if sample.run else None)
        assert row["generation_depth"] == sample.generation_depth


def test_a_deeper_cap_takes_the_deeper_samples(project, lead):
    made = _lineage_project(project)
    export = exported(
        project,
        lead,
        excluded_generator_ids=[made["excluded"].pk],
        max_generation_depth=2,
        audit_override_reason=OVERRIDE,
    )
    assert export.manifest["held_back"]["too_deep"] == 0
    assert export.manifest["counts"]["total"] == 20


@pytest.mark.parametrize("format", FORMATS)
def test_two_exports_of_one_selection_are_byte_identical(project, lead, format):
    gen = generator(project, "gen-a")
    add_samples(project, 4, origin="real", status="accepted", texts=[(f"réel {i} ✓", f"out {i}") for i in range(4)])
    add_samples(project, 3, gen=gen, status="accepted", label="easy", metadata={"source": "hand", "n": 2})
    first = exported(project, lead, format=format, audit_override_reason=OVERRIDE)
    second = exported(project, lead, format=format, audit_override_reason=OVERRIDE)
    assert first.status == second.status == "completed"
    assert first.stored_path != second.stored_path
    assert first.sha256 == second.sha256
    assert first.sha256 == _file_sha256(first.stored_path) and second.sha256 == _file_sha256(second.stored_path)
    assert first.size_bytes == Path(first.stored_path).stat().st_size
    # A different selection is a different file: the hash is of the content.
    add_samples(project, 1, origin="real", status="accepted")
    third = exported(project, lead, format=format, audit_override_reason=OVERRIDE)
    assert third.sha256 != first.sha256 and third.sha256 == _file_sha256(third.stored_path)


FORMULAS = [
    "=SUM(A1:A9)",
    "+1+2",
    "-3+cmd",
    "@SUM(A1)",
    "\tindented",
    # A formula behind whitespace of any kind, a separator or a full-width sign (synthreview/csv_safety.py).
    " =cmd|' /C calc'!A0",
    "\n=1+1",
    "\u3000=1+1",
    ";=1+1",
    "|=1+1",
    "＝1+1",
]


def _csv_by_id(path: str) -> tuple[list[str], dict[int, dict[str, str]]]:
    with open(path, encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert all(len(row) == len(header) for row in rows), "a row was split or merged"
    return header, {int(row[0]): dict(zip(header, row, strict=True)) for row in rows}


def test_csv_cells_that_start_like_formulas_are_escaped(project, lead):
    texts = [(formula, f"plain answer {i}") for i, formula in enumerate(FORMULAS)]
    samples = add_samples(project, len(texts), origin="real", status="accepted", texts=texts)
    innocent = add_samples(
        project, 1, origin="real", status="accepted", label='=HYPERLINK("x")', texts=[("What is 2 = 2?", "-")]
    )[0]
    export = exported(project, lead, format="csv")
    assert export.status == "completed", export.refusals
    header, by_id = _csv_by_id(export.stored_path)
    assert header == EXPORT_COLUMNS and len(by_id) == len(samples) + 1
    for sample, formula in zip(samples, FORMULAS, strict=True):
        assert by_id[sample.pk]["input"] == "'" + formula
        assert by_id[sample.pk]["output"] == sample.output  # not a formula: unchanged
    assert by_id[innocent.pk]["input"] == "What is 2 = 2?"
    assert by_id[innocent.pk]["output"] == "'-"
    assert by_id[innocent.pk]["label"] == '\'=HYPERLINK("x")'
    assert all(
        not value.startswith(("=", "+", "-", "@", "\t", "\r")) for row in by_id.values() for value in row.values()
    )


def test_csv_cells_with_a_carriage_return_are_escaped_and_stay_in_their_row(project, lead):
    texts = [("\rcarriage", "answer"), ("Windows text", "line one\r\nline two")]
    samples = add_samples(project, 2, origin="real", status="accepted", texts=texts)
    export = exported(project, lead, format="csv")
    _, by_id = _csv_by_id(export.stored_path)
    assert by_id[samples[0].pk]["input"] == "'\rcarriage"
    assert by_id[samples[1].pk]["output"] == "line one\r\nline two"


def test_sample_text_that_looks_like_a_path_changes_no_file_path(project, lead, settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"
    probe = f"/tmp/sr-export-probe-{uuid.uuid4().hex}"
    add_samples(
        project,
        3,
        origin="real",
        status="accepted",
        label="../../label",
        texts=[("../../etc/passwd", probe), (probe, "..\\..\\windows\\system32"), ("/etc/cron.d/x", "~/x")],
    )
    made = []
    for format in FORMATS:
        export = exported(project, lead, format=format)
        assert export.status == "completed", export.refusals
        expected = tmp_path / "data" / "exports" / str(project.pk) / f"export-{export.pk}.{format}"
        assert export.stored_path == str(expected) and expected.is_file()
        assert export.file_name == f"{project.slug}-train-export-{export.pk}.{format}"
        made.append(expected)
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(made)
    assert not Path(probe).exists()


@pytest.mark.parametrize(("format", "builder"), [("jsonl", "json"), ("csv", "csv"), ("parquet", "parquet")])
def test_each_format_loads_with_datasets(project, lead, monkeypatch, tmp_path, format, builder):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    real = add_samples(project, 5, origin="real", status="accepted", label="easy")
    synthetic = add_samples(project, 4, gen=generator(project, "gen-a"), status="accepted", metadata={"source": "hand"})
    export = exported(project, lead, format=format, audit_override_reason=OVERRIDE)
    assert export.status == "completed", export.refusals
    loaded = datasets.load_dataset(
        builder, data_files=export.stored_path, split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert loaded.num_rows == len(real) + len(synthetic)
    assert loaded.column_names == EXPORT_COLUMNS
    assert loaded["id"] == sorted(s.pk for s in [*real, *synthetic])
    assert Counter(loaded["origin"]) == {"real": 5, "synthetic": 4}
    assert [bool(v) for v in loaded["synthetic"]] == [
        s.origin == "synthetic" for s in sorted([*real, *synthetic], key=lambda s: s.pk)
    ]
