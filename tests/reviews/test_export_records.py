"""An export is a permanent record (PostgreSQL refuses to rewrite a finished one
or delete any), and the export_samples command writes the file and its manifest
or exits non-zero with the gate's reason."""

from __future__ import annotations

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.utils import DatabaseError

from reviews.models import Export
from reviews.services.eval_sets import eval_set_version_create, eval_split_add
from reviews.services.exports import export_request
from synthreview.projects.access import ProjectAccess
from synthreview.projects.models import AuditLog, Role
from tests.reviews.export_helpers import exported, jsonl_rows, lead_access
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.postgres(reason="the trigger exists on PostgreSQL only")


def _export_samples(project, path, *args: str, **options):
    out = StringIO()
    call_command(
        "export_samples", project.slug, *args, out=path, no_progress=True, stdout=out, stderr=StringIO(), **options
    )
    return out.getvalue()


@pytest.fixture
def finished(project, lead) -> dict[str, Export]:
    """One completed and one refused export."""
    add_samples(project, 3, origin="real", status="accepted")
    completed = exported(project, lead)
    add_samples(project, 3, gen=generator(project, "gen-a"), status="accepted")
    refused = exported(project, lead)
    assert (completed.status, refused.status) == ("completed", "refused")
    return {"completed": completed, "refused": refused}


@on_postgresql
@pytest.mark.parametrize("which", ["completed", "refused"])
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE reviews_export SET sha256 = 'rewritten', status = 'queued' WHERE id = %s",
        "DELETE FROM reviews_export WHERE id = %s",
    ],
)
def test_postgresql_refuses_to_rewrite_or_delete_a_finished_export(finished, which, statement):
    export = finished[which]
    with pytest.raises(DatabaseError, match="finished|permanent record"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [export.pk])
    with pytest.raises(DatabaseError):
        with transaction.atomic():
            Export.objects.filter(pk=export.pk).update(manifest={"rewritten": True})
    again = Export.objects.get(pk=export.pk)
    assert (again.status, again.sha256, again.manifest) == (export.status, export.sha256, export.manifest)


@on_postgresql
def test_postgresql_refuses_to_delete_even_a_queued_export(project, lead):
    export = export_request(lead_access(project, lead), format="jsonl", enqueue=False)
    with pytest.raises(DatabaseError, match="permanent record"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM reviews_export WHERE id = %s", [export.pk])
    assert Export.objects.filter(pk=export.pk).exists()


def test_a_finished_export_is_not_run_again(project, lead, finished):
    from reviews.services.exports import export_run

    completed = finished["completed"]
    add_samples(project, 2, origin="real", status="accepted")
    again = export_run(export_id=completed.pk)
    assert (again.sha256, again.rows_written, again.finished_at) == (
        completed.sha256,
        completed.rows_written,
        completed.finished_at,
    )
    assert AuditLog.objects.filter(action="export.completed", object_id=str(completed.pk)).count() == 1


# --- the export_samples command -------------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["jsonl", "csv", "parquet"])
def test_command_writes_the_file_and_its_manifest(project, lead, tmp_path, format):
    real = add_samples(project, 4, origin="real", status="accepted")
    path = tmp_path / f"out.{format}"
    said = _export_samples(project, path, format=format)
    manifest_path = tmp_path / f"out.{format}.manifest.json"
    assert path.is_file() and manifest_path.is_file()
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    export = Export.objects.get(pk=manifest["export_id"])
    assert export.status == "completed" and manifest["status"] == "completed"
    assert manifest["file"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest() == export.sha256
    assert manifest["counts"]["total"] == len(real) and manifest["real_share"] == 1
    assert manifest["file"]["format"] == format
    assert str(path) in said and export.sha256 in said
    if format == "jsonl":
        assert [row["id"] for row in jsonl_rows(path)] == [s.pk for s in real]


def test_command_exits_non_zero_with_the_mix_reason_and_writes_nothing(project, tmp_path):
    project.phase = 1
    project.save()
    add_samples(project, 1, origin="real", status="accepted")
    add_samples(project, 3, gen=generator(project, "gen-a"), status="accepted")
    path = tmp_path / "out.jsonl"
    with pytest.raises(CommandError) as refused:
        _export_samples(project, path, format="jsonl")
    message = str(refused.value)
    assert "refused" in message
    assert "mix:" in message and "25.0% real, below the minimum of 50%" in message and "add 2 real samples" in message
    assert "audit:" in message and "no closed audit" in message
    assert not path.exists() and not (tmp_path / "out.jsonl.manifest.json").exists()
    assert Export.objects.get(project=project).status == "refused"


def test_command_target_model_refusal_names_the_generator(project, tmp_path):
    tuned = generator(project, "tuned")
    tuned.model_name, tuned.derived_from = "acme-7b-instruct", ["acme-7b"]
    tuned.save()
    add_samples(project, 2, gen=tuned, status="accepted")
    project.target_models = [{"name": "acme-7b", "derived_from": []}]
    project.save(update_fields=["target_models"])
    with pytest.raises(CommandError, match=r"recursion: .*tuned \(2 samples\)"):
        _export_samples(
            project, tmp_path / "out.jsonl", format="jsonl", target_model="acme-7b", override_audit="recursion test"
        )


def test_command_eval_split_writes_the_frozen_members(project, lead, tmp_path):
    real = add_samples(project, 4, origin="real", status="accepted")
    add_samples(project, 2, gen=generator(project, "gen-a"), status="accepted")
    access = ProjectAccess(project, Role.LEAD, user=lead)
    eval_split_add(access, sample_ids=[real[1].pk, real[3].pk])
    version = eval_set_version_create(access)
    path = tmp_path / "eval.jsonl"
    _export_samples(project, path, format="jsonl", split="eval")
    assert [row["id"] for row in jsonl_rows(path)] == [real[1].pk, real[3].pk]
    manifest = json.loads((tmp_path / "eval.jsonl.manifest.json").read_text(encoding="utf-8"))
    assert manifest["eval_set"]["hash"] == version.content_hash and manifest["selection"]["split"] == "eval"


def test_command_refuses_an_unknown_project(tmp_path, db):
    with pytest.raises(CommandError, match="no project"):
        call_command("export_samples", "nope", format="jsonl", out=tmp_path / "x.jsonl", no_progress=True)


def test_command_takes_out_as_a_string_from_call_command(project, tmp_path):
    add_samples(project, 2, origin="real", status="accepted")
    call_command(
        "export_samples",
        project.slug,
        format="jsonl",
        out=str(tmp_path / "o.jsonl"),
        no_progress=True,
        stdout=StringIO(),
    )
    assert (tmp_path / "o.jsonl.manifest.json").is_file()
