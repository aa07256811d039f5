"""Work no person started (the export command, the demo) acts as a named system actor: it borrows
no member's role, and the audit log names it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from generation.models import ImportBatch
from generation.services.imports import import_upload_start
from reviews.models import Audit, EvalSetVersion, Export
from reviews.services.exports import export_request
from synthreview.projects.access import NEEDS, ProjectAccess, SystemActor, project_access
from synthreview.projects.models import AuditLog, Role
from synthreview.projects.services import audit_log_record
from tests.reviews.review_helpers import add_samples

pytestmark = pytest.mark.django_db


def test_a_system_actor_holds_no_role_and_may_do_what_a_lead_or_admin_service_needs(project):
    access = ProjectAccess.for_system(project, SystemActor("cli:test"))
    assert access.role is None and access.system_actor == SystemActor("cli:test")
    assert all(access.can(need) for need in NEEDS)
    with pytest.raises(KeyError):
        access.can("no such action")


def test_an_access_is_a_members_role_or_a_system_actor_never_both_nor_neither(project):
    with pytest.raises(ValueError):
        ProjectAccess(project, None)
    with pytest.raises(ValueError):
        ProjectAccess(project, Role.ADMIN, SystemActor("cli:test"))
    with pytest.raises(ValueError):
        SystemActor(" ")


def test_the_log_names_a_system_actor_beside_the_details_it_was_given(project):
    given = {"note": "kept"}
    entry = audit_log_record(project=project, actor=SystemActor("task:quality_check"), action="test.act", details=given)
    entry.refresh_from_db()
    assert entry.actor is None
    assert entry.details == {"note": "kept", "system_actor": "task:quality_check"}
    assert given == {"note": "kept"}, "the caller's dict is not changed"


def test_export_command_records_itself_in_the_audit_log_by_name(project, tmp_path):
    add_samples(project, 3, origin="real", status="accepted")
    call_command(
        "export_samples",
        project.slug,
        format="jsonl",
        out=tmp_path / "out.jsonl",
        no_progress=True,
        stdout=StringIO(),
        stderr=StringIO(),
    )
    export = Export.objects.get(project=project)
    assert export.status == "completed" and export.created_by is None
    requested = AuditLog.objects.get(project=project, action="export.request")
    assert requested.actor is None
    assert requested.details["system_actor"] == "cli:export_samples"


def test_export_command_as_a_user_records_that_user(project, lead, tmp_path):
    add_samples(project, 3, origin="real", status="accepted")
    call_command(
        "export_samples",
        project.slug,
        format="jsonl",
        out=tmp_path / "out.jsonl",
        as_user=lead.username,
        no_progress=True,
        stdout=StringIO(),
        stderr=StringIO(),
    )
    requested = AuditLog.objects.get(project=project, action="export.request")
    assert requested.actor == lead and "system_actor" not in requested.details
    assert Export.objects.get(project=project).created_by == lead


def test_the_export_worker_names_itself_on_the_row_it_writes_for_an_export_no_member_asked_for(
    project, run_tasks_inline, django_capture_on_commit_callbacks
):
    add_samples(project, 3, origin="real", status="accepted")
    with django_capture_on_commit_callbacks(execute=True):
        export = export_request(ProjectAccess.for_system(project, SystemActor("cli:test")), format="jsonl")
    export.refresh_from_db()
    assert export.status == "completed"
    completed = AuditLog.objects.get(project=project, action="export.completed")
    assert completed.actor is None
    assert completed.details["system_actor"] == "task:export"


def test_the_import_worker_names_itself_on_the_row_it_writes_for_an_import_no_member_started(
    project, run_tasks_inline, django_capture_on_commit_callbacks, similarity_requests
):
    upload = SimpleUploadedFile("rows.jsonl", b'{"input": "q", "output": "a"}\n')
    with django_capture_on_commit_callbacks(execute=True):
        batch = import_upload_start(
            ProjectAccess.for_system(project, SystemActor("cli:test")),
            upload=upload,
            fmt="jsonl",
            origin="real",
        )
    assert ImportBatch.objects.get(pk=batch.pk).rows_imported == 1
    imported = AuditLog.objects.get(project=project, action="import")
    assert imported.actor is None
    assert imported.details["system_actor"] == "task:import"


def test_an_import_a_member_started_names_that_member_not_the_worker(
    project, lead, run_tasks_inline, django_capture_on_commit_callbacks, similarity_requests
):
    upload = SimpleUploadedFile("rows.jsonl", b'{"input": "q", "output": "a"}\n')
    with django_capture_on_commit_callbacks(execute=True):
        import_upload_start(project_access(lead, project), upload=upload, fmt="jsonl", origin="real")
    imported = AuditLog.objects.get(project=project, action="import")
    assert imported.actor == lead and "system_actor" not in imported.details


@pytest.fixture
def similarity_requests(monkeypatch):
    """Similarity jobs the demo queues, recorded instead of embedded (that is tested elsewhere)."""
    from reviews.tasks import similarity_job_task

    queued: list[int] = []
    monkeypatch.setattr(similarity_job_task, "delay", queued.append)
    return queued


def test_the_demo_records_itself_in_the_audit_log_by_name_and_no_lead_is_said_to_act(
    run_tasks_inline, django_capture_on_commit_callbacks, similarity_requests
):
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", stdout=StringIO())
    audits = Audit.objects.filter(project__slug="demo")
    assert audits.exists() and not audits.filter(created_by__isnull=False).exists()
    assert EvalSetVersion.objects.get(project__slug="demo").created_by is None
    by_demo = AuditLog.objects.filter(project__slug="demo", details__system_actor="demo")
    assert {
        "project.create",
        "membership.set",
        "gold.set",
        "audit.create",
        "eval_split.draw",
        "eval_set.version_create",
    } <= set(by_demo.values_list("action", flat=True))
    assert not by_demo.filter(actor__isnull=False).exists()


def test_the_audit_log_page_names_the_program_that_acted_in_the_actor_column(project, lead, client_for, tmp_path):
    add_samples(project, 3, origin="real", status="accepted")
    call_command(
        "export_samples",
        project.slug,
        format="jsonl",
        out=tmp_path / "out.jsonl",
        no_progress=True,
        stdout=StringIO(),
        stderr=StringIO(),
    )
    from django.urls import reverse

    page = client_for(lead).get(reverse("audit_log", args=[project.slug]), {"action": "export.request"})
    rows = page.content.decode().split("<tr data-entry=")[1:]
    requested = next(row for row in rows if '<code class="small">export.request</code>' in row)
    actor_cell = requested.split("<td")[2]
    assert "cli:export_samples" in actor_cell


def test_the_audits_page_says_the_system_drew_an_audit_no_person_started(project, lead, client_for):
    from django.urls import reverse

    from reviews.services.audits import audit_create

    add_samples(project, 14)
    audit_create(ProjectAccess.for_system(project, SystemActor("cli:test")), scope="project", sample_size=10, seed=3)
    page = client_for(lead).get(reverse("audit_list", args=[project.slug])).content.decode()
    assert "drawn by the system" in page
    assert "by —" not in page
