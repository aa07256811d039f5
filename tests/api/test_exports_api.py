"""Exports through the API: asked for with the page's form, decided by the same gates, and their
file and manifest downloaded; who may do it, and what bad input is told."""

from __future__ import annotations

import hashlib
import json

import pytest

from generation.models import Origin
from reviews.models import EvalSetVersion, Export
from reviews.services.exports import export_run
from synthreview.projects.models import AuditLog
from tests.reviews.export_helpers import closed_run_audit, exported, synthetic_run
from tests.reviews.review_helpers import add_samples, generator

pytestmark = pytest.mark.django_db

HUGE = 2**63  # one past the largest id the database holds


@pytest.fixture
def made(project):
    """6 real and 50 synthetic accepted samples, the synthetic ones from one run that no audit has seen."""
    real = add_samples(project, 6, origin=Origin.REAL, status="accepted")
    generation_run, synthetic = synthetic_run(project, "run-a", 50)
    return real, generation_run, synthetic


def ask(client, body, capture, *, slug: str = "math"):
    """POST an export and let the worker's task run when the request's transaction commits."""
    with capture(execute=True):
        return client.post(f"projects/{slug}/exports", body)


def test_an_unaudited_run_is_refused_then_passes_once_audited_and_its_file_holds_every_row(
    made, project, lead, expert, api_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    real, generation_run, synthetic = made
    client = api_for(lead)

    response = ask(client, {"format": "jsonl"}, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    body = response.json()
    refused_id = body["id"]
    assert body["status"] == "queued"
    assert body["url"] == f"/api/v1/projects/math/exports/{refused_id}" == response["Location"]

    detail = client.get(body["url"]).json()
    assert detail["status"] == "refused"
    assert detail["refused_by"] == ["audit"]
    [refusal] = detail["refusals"]
    assert refusal["gate"] == "audit" and refusal["outcome"] == "refused"
    assert "run run-a" in refusal["reason"]
    assert detail["file_url"] is None and detail["rows_written"] == 0
    assert client.get(f"projects/math/exports/{refused_id}/file").status_code == 404
    # A refused export still says what it counted and why, in its manifest.
    assert detail["manifest_url"] == f"/api/v1/projects/math/exports/{refused_id}/manifest"
    refused_manifest = client.get(detail["manifest_url"]).json()
    assert refused_manifest["status"] == "refused" and refused_manifest["counts"]["total"] == 56

    closed_run_audit(project, lead, expert, generation_run)
    response = ask(client, {"format": "jsonl", "split": "train"}, django_capture_on_commit_callbacks)
    assert response.status_code == 202
    passed_id = response.json()["id"]
    assert passed_id != refused_id

    detail = client.get(f"projects/math/exports/{passed_id}").json()
    assert detail["status"] == "completed", detail["refusals"]
    assert detail["refusals"] == [] and detail["refused_by"] == []
    assert {d["gate"]: d["outcome"] for d in detail["decisions"]}["audit"] == "passed"
    assert detail["rows_written"] == 56
    assert detail["counts"] == {
        "total": 56,
        "real": 6,
        "synthetic": 50,
        "real_share": pytest.approx(6 / 56),
        "held_back": {"eval_member": 0, "eval_leak": 0, "leak_unchecked": 0, "excluded_generator": 0, "too_deep": 0},
    }
    assert detail["created_by"] == "lee-lead"

    download = client.get(detail["file_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/x-ndjson"
    assert download["Content-Disposition"] == f'attachment; filename="math-train-export-{passed_id}.jsonl"'
    content = b"".join(download.streaming_content)
    assert hashlib.sha256(content).hexdigest() == detail["sha256"]
    rows = [json.loads(line) for line in content.decode().splitlines()]
    assert sorted(row["id"] for row in rows) == sorted(s.pk for s in [*real, *synthetic])
    assert sum(row["origin"] == "real" for row in rows) == 6

    manifest = client.get(detail["manifest_url"]).json()
    assert manifest["export_id"] == passed_id
    assert manifest["counts"]["by_origin"] == {"real": 6, "synthetic": 50}
    assert manifest["file"]["rows"] == 56 and manifest["file"]["sha256"] == detail["sha256"]
    assert [audit["judged"] for audit in manifest["audits"]] == [50]

    listed = client.get("projects/math/exports").json()
    assert [(item["id"], item["status"]) for item in listed["items"]] == [
        (passed_id, "completed"),
        (refused_id, "refused"),
    ]


def test_an_override_with_its_reason_passes_the_audit_gate_as_on_the_page(
    made, lead, api_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    client = api_for(lead)
    reason = "pilot batch, audited next week"
    response = ask(client, {"format": "csv", "audit_override_reason": reason}, django_capture_on_commit_callbacks)
    detail = client.get(response.json()["url"]).json()
    assert detail["status"] == "completed"
    assert detail["audit_override_reason"] == reason
    assert {d["gate"]: d["outcome"] for d in detail["decisions"]}["audit"] == "overridden"
    download = client.get(detail["file_url"])
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == 1 + 56  # header and one line a sample
    manifest = client.get(detail["manifest_url"]).json()
    assert manifest["override"]["reason"] == reason and manifest["override"]["by"] == "lee-lead"
    assert AuditLog.objects.filter(action="export.override", object_id=str(detail["id"])).count() == 1


def test_generators_left_out_are_held_back_and_named(
    project, lead, api_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    add_samples(project, 3, origin=Origin.REAL, status="accepted")
    add_samples(project, 4, gen=generator(project, "gen-a"), status="accepted")
    left_out = generator(project, "gen-b")
    add_samples(project, 5, gen=left_out, status="accepted")
    client = api_for(lead)
    body = {"excluded_generators": [left_out.pk], "audit_override_reason": "no audit yet"}
    detail = client.get(ask(client, body, django_capture_on_commit_callbacks).json()["url"]).json()
    assert detail["status"] == "completed"
    assert detail["excluded_generators"] == ["gen-b"]
    assert detail["rows_written"] == 3 + 4
    assert detail["counts"]["held_back"]["excluded_generator"] == 5


def test_a_queued_export_has_no_file_or_manifest_yet(made, lead, api_for, django_capture_on_commit_callbacks):
    client = api_for(lead)
    with django_capture_on_commit_callbacks(execute=False):
        export_id = client.post("projects/math/exports", {}).json()["id"]
    detail = client.get(f"projects/math/exports/{export_id}").json()
    assert detail["status"] == "queued"
    assert detail["file_url"] is None and detail["manifest_url"] is None
    for part in ("file", "manifest"):
        response = client.get(f"projects/math/exports/{export_id}/{part}")
        assert response.status_code == 409 and response.json()["code"] == "conflict"
    # The worker's service finishes it; then the manifest is there.
    export_run(export_id=export_id)
    assert client.get(f"projects/math/exports/{export_id}/manifest").status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({"split": "holdout"}, "split"),
        ({"max_generation_depth": 21}, "max_generation_depth"),
        ({"max_generation_depth": -1}, "max_generation_depth"),
        ({"excluded_generators": [HUGE]}, "excluded_generators.0"),
        ({"audit_override_reason": "x" * 2001}, "audit_override_reason"),
        ({"target_model": "m" * 201}, "target_model"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(body, field, made, lead, api_for):
    response = api_for(lead).post("projects/math/exports", body)
    assert response.status_code == 422
    assert response.json()["field"] == field
    assert not Export.objects.exists()


def test_another_projects_eval_set_version_or_generator_is_refused_by_the_form(
    made, lead, other_project, outsider, api_for
):
    version = EvalSetVersion.objects.create(project=other_project, version=1, content_hash="0" * 64, member_count=0)
    theirs = generator(other_project, "their-gen")
    client = api_for(lead)
    response = client.post("projects/math/exports", {"eval_set_version": version.pk})
    assert (response.status_code, response.json()["field"]) == (422, "eval_set_version")
    response = client.post("projects/math/exports", {"excluded_generators": [theirs.pk]})
    assert (response.status_code, response.json()["field"]) == (422, "excluded_generators")
    assert not Export.objects.exists()


def test_an_eval_export_without_a_frozen_version_is_refused_before_any_gate(made, lead, api_for):
    response = api_for(lead).post("projects/math/exports", {"split": "eval"})
    assert response.status_code == 422
    assert "no eval-set version yet" in response.json()["message"]
    assert not Export.objects.exists()


def test_who_may_ask_for_read_and_download_exports(
    made, project, other_project, lead, admin_member, expert, outsider, api_for
):
    export = exported(project, lead, audit_override_reason="for the access test")
    assert export.status == "completed"
    paths = [
        f"projects/math/exports/{export.pk}",
        f"projects/math/exports/{export.pk}/file",
        f"projects/math/exports/{export.pk}/manifest",
        "projects/math/exports",
    ]
    for path in paths:
        assert api_for(None).get(path).status_code == 401, path
        assert api_for(expert).get(path).status_code == 403, path
        assert api_for(lead, role_cap="expert").get(path).status_code == 403, path
        assert api_for(outsider).get(path).status_code == 404, path
        assert api_for(admin_member).get(path).status_code == 200, path
    assert api_for(None).post("projects/math/exports", {}).status_code == 401
    assert api_for(expert).post("projects/math/exports", {}).status_code == 403
    assert api_for(outsider).post("projects/math/exports", {}).status_code == 404
    assert Export.objects.count() == 1


def test_another_projects_export_is_not_found_by_id(made, project, other_project, lead, outsider, api_for):
    ours = exported(project, lead, audit_override_reason="ours")
    add_samples(other_project, 2, origin=Origin.REAL, status="accepted")
    theirs = exported(other_project, outsider)
    for suffix in ("", "/file", "/manifest"):
        # Our id under their slug, as one of their admins, and theirs under ours, as our lead.
        assert api_for(outsider).get(f"projects/other/exports/{ours.pk}{suffix}").status_code == 404
        assert api_for(lead).get(f"projects/math/exports/{theirs.pk}{suffix}").status_code == 404


def test_huge_ids_and_foreign_cursors_are_a_422(made, lead, api_for):
    client = api_for(lead)
    response = client.get(f"projects/math/exports/{HUGE}")
    assert (response.status_code, response.json()["field"]) == (422, "export_id")
    response = client.get("projects/math/exports", {"cursor": "not-ours"})
    assert (response.status_code, response.json()["field"]) == (422, "cursor")
    response = client.get("projects/math/exports", {"limit": 0})
    assert (response.status_code, response.json()["field"]) == (422, "limit")


def test_the_list_pages_by_cursor_newest_first(made, project, lead, api_for):
    made_ids = [exported(project, lead, audit_override_reason=f"#{n}").pk for n in range(3)]
    client = api_for(lead)
    first = client.get("projects/math/exports", {"limit": 2}).json()
    assert [item["id"] for item in first["items"]] == [made_ids[2], made_ids[1]]
    second = client.get("projects/math/exports", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [item["id"] for item in second["items"]] == [made_ids[0]]
    assert second["next_cursor"] is None


def test_the_export_list_costs_the_same_queries_for_many_exports_as_for_one(made, project, lead, api_for):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api_for(lead)
    exported(project, lead, audit_override_reason="first")
    client.get("projects/math/exports")  # the token's first use is recorded once; measure after it
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("projects/math/exports").json()["items"]) == 1
    for n in range(4):
        exported(project, lead, audit_override_reason=f"again {n}")
    with CaptureQueriesContext(connection) as five:
        assert len(client.get("projects/math/exports").json()["items"]) == 5
    assert len(five) == len(one)
