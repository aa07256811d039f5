"""The JSONL export on PostgreSQL is built by the database (one COPY); it writes the same bytes as the
Python writer, leaves out every held-back sample and every leak, and keeps to bounded chunks. The
held-back tests run on SQLite too, where the Python writer does the work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection

from generation.models import Generator, Sample
from reviews.governance.gates import lineage_names
from reviews.governance.writers import write_jsonl
from reviews.models import EvalLeakCheck, Export, SampleEmbedding
from reviews.selectors import exports as export_selectors
from reviews.selectors.exports import export_jsonl_chunks, export_rows, export_template_versions
from reviews.services.eval_leaks import eval_leak_check
from reviews.services.eval_sets import eval_set_version_create, eval_split_add, eval_split_remove
from tests.reviews.export_helpers import EXPORT_COLUMNS, exported, jsonl_rows, lead_access
from tests.reviews.review_helpers import add_samples, generator, run, template_version

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")

OVERRIDE = "JSONL test: the generators' audits are not what is tested here."
AWKWARD_TEXTS = [
    ('<script>alert("x")</script> & <b>bold</b> </p>', "<img src=x onerror=alert(1)> &amp; &lt;"),
    ("naïve café, Ελληνικά, 日本語, emoji 🧪👩‍🔬, combining e\u0301", "RTL \u202eevil\u202c and \u2028line\u2029sep"),
    ('quotes " and \\ backslash \\n not a newline', "tab\there\nnewline\r\ncrlf \b\f \x01\x1f\x7f"),
    ("", "an empty prompt"),
    ('{"looks": ["like", "json"]}', "'single' `back` $dollar %percent %s {brace}"),
]
METADATA = {"source": "tést", "nested": {"list": [1, 2.5, None, True], "html": "<i>x</i>"}, "emoji": "🧪"}


def _python_writer_bytes(export: Export, path: Path) -> bytes:
    """The file as the Python path writes it (the path SQLite and the other formats take)."""
    project = export.project
    models = {g.pk: g.model_name for g in Generator.objects.filter(project=project)}
    rows = export_rows(export, lineage_names(project), export_template_versions(project), models)
    write_jsonl(rows, path)
    return path.read_bytes()


def _every_lineage_field(project) -> dict:
    """Samples with every lineage field set, and with each one missing, over awkward texts and metadata."""
    tpl = template_version(project, "tpl-ünï <a>")
    gen = generator(project, 'gen "quoted"')
    Generator.objects.filter(pk=gen.pk).update(model_name="model/ä\\b")
    plain = generator(project, "gen-plain")
    made_run = run(project, "run <1> ☃", tpl, gen)
    samples = [
        *add_samples(
            project,
            len(AWKWARD_TEXTS),
            gen=gen,
            run=made_run,
            template_version=tpl,
            status="accepted",
            texts=AWKWARD_TEXTS,
            label="math",
            metadata=METADATA,
        ),
        *add_samples(project, 2, gen=gen, run=made_run, template_version=tpl, status="accepted", generation_depth=1),
        *add_samples(project, 2, gen=plain, status="accepted", label="", metadata={}),
        *add_samples(project, 2, origin="real", status="accepted", texts=AWKWARD_TEXTS[:2], split="train"),
        *add_samples(project, 1, origin="real", status="accepted", metadata={"k": "v"}),
        *add_samples(project, 1, origin="real", status="pending"),
    ]
    return {"samples": samples, "gen": gen, "tpl": tpl, "run": made_run}


@on_postgresql
def test_database_built_jsonl_is_byte_for_byte_the_python_writers_file(project, lead, tmp_path):
    made = _every_lineage_field(project)
    export = exported(project, lead, audit_override_reason=OVERRIDE)
    assert export.status == "completed", export.refusals

    written = Path(export.stored_path).read_bytes()
    assert written == _python_writer_bytes(export, tmp_path / "python.jsonl")
    rows = [json.loads(line) for line in written.decode("utf-8").split("\n")[:-1]]  # not splitlines: U+2028
    assert [row["id"] for row in rows] == sorted(s.pk for s in made["samples"] if s.status == "accepted")
    assert all(list(row) == EXPORT_COLUMNS for row in rows)
    by_id = {row["id"]: row for row in rows}
    first = by_id[made["samples"][0].pk]
    assert (first["input"], first["output"]) == AWKWARD_TEXTS[0]
    assert first["generator"] == 'gen "quoted"' and first["generator_model"] == "model/ä\\b"
    assert (first["template"], first["template_version"], first["run"]) == ("tpl-ünï <a>", 1, "run <1> ☃")
    assert first["synthetic"] is True and first["label"] == "math" and first["split"] is None
    assert first["metadata"] == METADATA
    control = by_id[made["samples"][2].pk]
    assert control["output"] == AWKWARD_TEXTS[2][1]
    real = by_id[made["samples"][-4].pk]
    assert real["synthetic"] is False and real["split"] == "train"
    assert (real["generator"], real["generator_model"], real["template"], real["template_version"], real["run"]) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert real["label"] is None


@on_postgresql
def test_database_built_eval_split_export_matches_the_python_writer(project, lead, tmp_path):
    members = add_samples(project, 3, origin="real", status="accepted", texts=AWKWARD_TEXTS[:3], metadata=METADATA)
    eval_split_add(lead_access(project, lead), sample_ids=[m.pk for m in members])
    eval_set_version_create(lead_access(project, lead))
    export = exported(project, lead, split="eval")
    assert export.status == "completed", export.refusals
    written = Path(export.stored_path).read_bytes()
    assert written == _python_writer_bytes(export, tmp_path / "python.jsonl")
    lines = written.decode("utf-8").split("\n")[:-1]  # not splitlines: the texts hold U+2028
    assert [json.loads(line)["id"] for line in lines] == [m.pk for m in members]


@on_postgresql
def test_the_copy_stream_comes_in_bounded_chunks(project, lead, monkeypatch):
    add_samples(project, 40, origin="real", status="accepted", texts=[("p" * 300, "a" * 300)] * 40)
    export = exported(project, lead, audit_override_reason=OVERRIDE)
    monkeypatch.setattr(export_selectors, "JSONL_CHUNK_BYTES", 4096)
    chunks = list(export_jsonl_chunks(export))
    line = len(Path(export.stored_path).read_bytes()) // 40
    assert len(chunks) >= 40 * line // (4096 + line)
    assert all(len(data) < 4096 + line for data, _ in chunks)
    assert all(data.count(b"\n") == lines for data, lines in chunks)
    assert b"".join(data for data, _ in chunks) == Path(export.stored_path).read_bytes()


def _unit(seed: int) -> bytes:
    vector = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
    return (vector / np.linalg.norm(vector)).astype("<f4").tobytes()


def _embed(project, samples: list[Sample], vector_of: dict[int, bytes]) -> None:
    """Stored vectors for both texts the leak check reads: the encoder is not what is tested here."""
    SampleEmbedding.objects.bulk_create(
        SampleEmbedding(
            sample=s, project=project, model_name=settings.EMBEDDING_MODEL, text_kind=kind, vector=vector_of[s.pk]
        )
        for s in samples
        for kind in ("input_output", "input")
    )


def test_held_back_and_leaking_samples_are_left_out_of_the_file(project, lead):
    gen, left_out_gen = generator(project, "gen-a"), generator(project, "gen-left-out")
    members = add_samples(project, 2, origin="real", status="accepted", texts=[("eval one", "1"), ("eval two", "2")])
    near_copy = add_samples(project, 1, gen=gen, status="accepted", texts=[("eval one, reworded", "1")])[0]
    same_prompt = add_samples(project, 1, origin="real", status="accepted", texts=[("  eval two\n", "another answer")])[
        0
    ]
    kept = add_samples(project, 3, gen=gen, status="accepted")
    too_deep = add_samples(project, 1, gen=gen, status="accepted", generation_depth=5)[0]
    from_left_out = add_samples(project, 1, gen=left_out_gen, status="accepted")[0]
    pending = add_samples(project, 1, gen=gen, status="pending")[0]
    everything = [*members, near_copy, same_prompt, *kept, too_deep, from_left_out, pending]
    vector_of = {s.pk: _unit(s.pk) for s in everything}
    vector_of[near_copy.pk] = vector_of[members[0].pk]  # cosine 1 with an eval member
    _embed(project, everything, vector_of)
    eval_split_add(lead_access(project, lead), sample_ids=[m.pk for m in members])
    version = eval_set_version_create(lead_access(project, lead))
    # Out of the eval split now, but still a member of the frozen version.
    eval_split_remove(lead_access(project, lead), sample_ids=[members[1].pk])

    export = exported(project, lead, audit_override_reason=OVERRIDE, excluded_generator_ids=[left_out_gen.pk])
    assert export.status == "completed", export.refusals
    assert export.eval_set_version_id == version.pk
    assert EvalLeakCheck.objects.get(version=version).checked_through_id == max(s.pk for s in everything)
    assert {row["id"] for row in jsonl_rows(export.stored_path)} == {s.pk for s in kept}
    assert (export.manifest or {})["held_back"] == {
        "eval_member": 1,
        "eval_leak": 2,
        "leak_unchecked": 0,
        "excluded_generator": 1,
        "too_deep": 1,
    }
    assert export.rows_written == len(kept)


def test_a_refused_export_writes_no_file(project, lead):
    add_samples(project, 3, gen=generator(project, "gen-a"), status="accepted")
    export = exported(project, lead, target_model="an-undeclared-model", audit_override_reason=OVERRIDE)
    assert export.status == "refused"
    assert "recursion" in {r["gate"] for r in (export.refusals or [])}
    assert not export.stored_path and export.rows_written == 0
    assert not list((Path(settings.DATA_DIR) / "exports").glob(f"*/export-{export.pk}.*"))


def test_an_up_to_date_leak_check_is_confirmed_without_scanning_the_project(
    project, lead, django_assert_max_num_queries
):
    members = add_samples(project, 1, origin="real", status="accepted", texts=[("eval one", "1")])
    train_side = add_samples(project, 3, gen=generator(project, "gen-a"), status="accepted")
    _embed(project, [*members, *train_side], {s.pk: _unit(s.pk) for s in [*members, *train_side]})
    eval_split_add(lead_access(project, lead), sample_ids=[members[0].pk])
    version = eval_set_version_create(lead_access(project, lead))
    first = eval_leak_check(version_id=version.pk)
    assert first.checked_through_id == train_side[-1].pk
    # The check row and the project's newest id; no search for samples without vectors.
    with django_assert_max_num_queries(3):
        again = eval_leak_check(version_id=version.pk)
    assert again.pk == first.pk and again.checked_through_id == first.checked_through_id

    late = add_samples(project, 1, gen=generator(project, "gen-a"), status="accepted")[0]
    _embed(project, [late], {late.pk: _unit(late.pk)})
    assert eval_leak_check(version_id=version.pk).checked_through_id == late.pk
