"""The run pages: who may define, preview, launch and act on runs; what the pages show."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from generation.models import GenerationRun, RunItem, RunLane
from generation.runs.plan import ConstraintMix, GridCell
from generation.services.runs import RunSpec, run_create, run_execute, run_prepare
from synthreview.projects.models import AuditLog
from tests.generation.run_helpers import openai_generator, setup_access, topic_template

pytestmark = pytest.mark.django_db


def _form(version, generators, *, name="r1", table=b"topic\ntea\nmilk\n", action="preview", **extra):
    data = {
        "name": name,
        "template_version": version.pk,
        "generators": [g.pk for g in generators],
        "temperatures": "0.1, 0.5, 0.9",
        "top_ps": "",
        "seeds": "",
        "seed": "0",
        "constraints": "",
        "fewshot_per_item": "0",
        "fewshot_items": "0",
        "action": action,
    }
    data.update(extra)
    if table is not None:
        data["variables_file"] = SimpleUploadedFile("vars.csv", table, content_type="text/csv")
    return data


def test_a_preview_counts_items_and_renders_escaped_prompts_without_saving(project, lead, client_for, llm_server):
    version = topic_template(project)
    generators = [
        openai_generator(project, "a", llm_server.base_url),
        openai_generator(project, "b", llm_server.base_url),
    ]
    table = b'topic\n"<script>alert(1)</script>"\nmilk\n'
    response = client_for(lead).post(f"/p/{project.slug}/runs/new/", _form(version, generators, table=table))
    page = response.content.decode()
    assert response.status_code == 200
    # 2 rows × 2 generators × 3 temperatures.
    assert 'data-testid="item-count">12<' in page
    assert "<script>alert(1)</script>" not in page
    assert html.escape("Write three sentences about <script>alert(1)</script>.") in page
    assert GenerationRun.objects.count() == 0 and len(llm_server.requests) == 0


def test_the_htmx_preview_answers_with_the_preview_partial_only(project, lead, client_for, llm_server):
    version = topic_template(project)
    generator = openai_generator(project, "a", llm_server.base_url)
    response = client_for(lead).post(
        f"/p/{project.slug}/runs/new/", _form(version, [generator]), headers={"HX-Request": "true"}
    )
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="preview"')
    assert "<html" not in page


def test_a_table_missing_a_variable_is_refused_with_its_row(project, lead, client_for, llm_server):
    version = topic_template(project)
    generator = openai_generator(project, "a", llm_server.base_url)
    response = client_for(lead).post(
        f"/p/{project.slug}/runs/new/", _form(version, [generator], table=b"subject\ntea\n", action="launch")
    )
    assert "row 1: no value for topic" in response.content.decode()
    assert GenerationRun.objects.count() == 0


def test_a_lead_launches_a_run_and_the_worker_task_is_queued(
    project, lead, client_for, llm_server, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    generator = openai_generator(project, "a", llm_server.base_url)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(lead).post(f"/p/{project.slug}/runs/new/", _form(version, [generator], action="launch"))
    run = GenerationRun.objects.get(name="r1")
    assert response.status_code == 302 and response["Location"] == f"/p/{project.slug}/runs/{run.pk}/"
    assert (run.status, run.items_total, run.created_by) == ("queued", 2 * 3, lead)
    assert len(callbacks) == 1
    entry = AuditLog.objects.get(action="run.create")
    assert entry.details["items"] == 6 and entry.details["generators"] == ["a"]


@pytest.mark.parametrize("role", ["expert", "outsider"])
def test_only_leads_define_runs(project, role, request, client_for, llm_server):
    user = request.getfixturevalue(role)
    version = topic_template(project)
    generator = openai_generator(project, "a", llm_server.base_url)
    client = client_for(user)
    expected = 403 if role == "expert" else 404
    assert client.get(f"/p/{project.slug}/runs/new/").status_code == expected
    response = client.post(f"/p/{project.slug}/runs/new/", _form(version, [generator], action="launch"))
    assert response.status_code == expected
    assert GenerationRun.objects.count() == 0


def _finished_run(project, server, django_capture_on_commit_callbacks, rows=("tea", "[[status:500x99]] x")):
    version = topic_template(project)
    generator = openai_generator(project, "a", server.base_url)
    spec = RunSpec(
        project=project,
        name="done",
        template_version=version,
        generators=[generator],
        cells=[GridCell(0.5, None, None)],
        table_rows=[{"topic": t} for t in rows],
        constraints=ConstraintMix(),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(spec.project), spec=spec)
    return run_execute(run_id=run.pk)


def test_the_run_page_shows_counts_and_failed_items_and_stops_polling_when_finished(
    project, expert, client_for, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    run = _finished_run(project, llm_server, django_capture_on_commit_callbacks)
    client = client_for(expert)
    page = client.get(f"/p/{project.slug}/runs/{run.pk}/").content.decode()
    assert "1 done · 1 failed · 0 pending of 2 items" in page
    assert "HTTP 500" in page and "after 4 attempts" in page
    # Experts watch; only leads act.
    assert 'value="retry-failed"' not in page
    partial = client.get(f"/p/{project.slug}/runs/{run.pk}/", headers={"HX-Request": "true"})
    assert partial.status_code == 286  # htmx: stop polling
    assert client.post(f"/p/{project.slug}/runs/{run.pk}/action/", {"action": "retry-failed"}).status_code == 403


def test_a_lead_retries_the_failed_items(
    project, lead, client_for, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    run = _finished_run(project, llm_server, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(lead).post(f"/p/{project.slug}/runs/{run.pk}/action/", {"action": "retry-failed"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "queued" and run.items_failed == 0
    assert RunItem.objects.filter(run=run, status="pending").count() == 1
    assert len(callbacks) == 1


def test_a_run_of_another_project_is_not_found(
    project, other_project, lead, client_for, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    run = _finished_run(other_project, llm_server, django_capture_on_commit_callbacks, rows=("tea",))
    assert client_for(lead).get(f"/p/{project.slug}/runs/{run.pk}/").status_code == 404
    assert client_for(lead).post(f"/p/{project.slug}/runs/{run.pk}/action/", {"action": "cancel"}).status_code == 404


def test_the_run_page_says_when_no_worker_is_on_a_running_runs_pending_items(
    project, lead, client_for, llm_server, django_capture_on_commit_callbacks
):
    generator = openai_generator(project, "stranded", llm_server.base_url)
    spec = RunSpec(
        project=project,
        name="stuck",
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(0.5, None, None)],
        table_rows=[{"topic": "tea"}, {"topic": "milk"}],
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(spec.project), spec=spec)
    run_prepare(run_id=run.pk)
    long_ago = timezone.now() - timedelta(minutes=10)
    GenerationRun.objects.filter(pk=run.pk).update(status="running", started_at=long_ago)
    url = f"/p/{project.slug}/runs/{run.pk}/"

    # Its worker died ten minutes ago: the lease it held has lapsed.
    RunLane.objects.filter(run=run).update(owner="dead", lease_until=long_ago)
    page = client_for(lead).get(url).content.decode()
    assert "No worker is on the pending items of stranded right now" in page
    assert 'value="resume"' in page

    # A live worker holds the lane: nothing to say.
    RunLane.objects.filter(run=run).update(owner="alive", lease_until=timezone.now() + timedelta(seconds=20))
    assert "No worker is on" not in client_for(lead).get(url).content.decode()


def test_a_run_that_just_started_is_not_called_unattended(
    project, lead, client_for, llm_server, django_capture_on_commit_callbacks
):
    generator = openai_generator(project, "fresh", llm_server.base_url)
    spec = RunSpec(
        project=project,
        name="fresh",
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(0.5, None, None)],
        table_rows=[{"topic": "tea"}],
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(spec.project), spec=spec)
    run_prepare(run_id=run.pk)
    GenerationRun.objects.filter(pk=run.pk).update(status="running", started_at=timezone.now())
    assert "No worker is on" not in client_for(lead).get(f"/p/{project.slug}/runs/{run.pk}/").content.decode()
