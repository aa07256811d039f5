"""The run page names the run's real state: nothing on it still says "queued" once the run is over.

The launch and resume messages sit above the status card, which updates by itself while they stay
on the page; a state named in them goes stale as soon as the workers pick the run up."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from generation.models import GenerationRun
from generation.runs.plan import ConstraintMix, GridCell
from generation.services.runs import RunSpec, run_create, run_execute
from tests.generation.run_helpers import openai_generator, setup_access, topic_template

pytestmark = pytest.mark.django_db


def _visible_text(page: str) -> str:
    """The page's words as a reader sees them: no tags, no attributes (class names hold "status-queued")."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def _launch_form(version, generator) -> dict:
    return {
        "name": "r1",
        "template_version": version.pk,
        "generators": [generator.pk],
        "temperatures": "0.5",
        "top_ps": "",
        "seeds": "",
        "seed": "0",
        "constraints": "",
        "fewshot_per_item": "0",
        "fewshot_items": "0",
        "action": "launch",
        "variables_file": SimpleUploadedFile("vars.csv", b"topic\ntea\nmilk\n", content_type="text/csv"),
    }


def test_a_run_that_finished_before_its_page_opened_is_called_completed_and_never_queued(
    project, lead, client_for, llm_server, fast_retries, run_tasks_inline, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    generator = openai_generator(project, "a", llm_server.base_url)
    client = client_for(lead)
    # The worker (in process here) runs the whole run as the launch commits, before the page opens.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/p/{project.slug}/runs/new/", _launch_form(version, generator))
    run = GenerationRun.objects.get(name="r1")
    assert run.status == "completed"

    text = _visible_text(client.get(response["Location"]).content.decode())
    assert "Status: Completed" in text
    assert "Run r1 launched: 2 items." in text
    assert "queued" not in text.lower()


def test_a_resumed_run_that_finished_is_not_called_queued(
    project, lead, client_for, llm_server, fast_retries, run_tasks_inline, django_capture_on_commit_callbacks
):
    generator = openai_generator(project, "a", llm_server.base_url)
    spec = RunSpec(
        project=project,
        name="done",
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(0.5, None, None)],
        table_rows=[{"topic": "tea"}, {"topic": "[[status:500x99]] x"}],
        constraints=ConstraintMix(),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(project), spec=spec)
    run_execute(run_id=run.pk)
    client = client_for(lead)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/p/{project.slug}/runs/{run.pk}/action/", {"action": "retry-failed"})
    run.refresh_from_db()
    assert run.status == "completed"

    text = _visible_text(client.get(response["Location"]).content.decode())
    assert "Status: Completed" in text
    assert "items already done are not redone" in text
    assert "queued" not in text.lower()


def test_the_status_card_of_a_queued_run_keeps_polling_and_stops_once_it_completes(
    project, expert, client_for, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    generator = openai_generator(project, "a", llm_server.base_url)
    spec = RunSpec(
        project=project,
        name="later",
        template_version=topic_template(project),
        generators=[generator],
        cells=[GridCell(0.5, None, None)],
        table_rows=[{"topic": "tea"}],
        constraints=ConstraintMix(),
    )
    with django_capture_on_commit_callbacks(execute=False):
        run = run_create(setup_access(project), spec=spec)
    client = client_for(expert)
    url = f"/p/{project.slug}/runs/{run.pk}/"

    queued = client.get(url, headers={"HX-Request": "true"})
    assert queued.status_code == 200 and 'hx-trigger="every 1s"' in queued.content.decode()
    assert 'data-testid="run-state">Queued<' in queued.content.decode()

    run_execute(run_id=run.pk)
    done = client.get(url, headers={"HX-Request": "true"})
    assert done.status_code == 286  # htmx stops polling, and still swaps in the final card
    assert 'data-testid="run-state">Completed<' in done.content.decode()
    assert "hx-trigger" not in done.content.decode()
