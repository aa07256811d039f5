"""Generators and generation runs through the API: endpoints kept from all but admins, a run
launched with the page's form and followed to its end, and who may do what."""

from __future__ import annotations

from decimal import Decimal

import pytest

from generation.models import GenerationRun, Generator, GeneratorKind, RunItem
from generation.services.runs import run_execute
from synthreview.projects.models import AuditLog
from tests.generation.run_helpers import openai_generator, topic_template
from tests.reviews.review_helpers import run as completed_run
from tests.reviews.review_helpers import template_version

pytestmark = pytest.mark.django_db

HUGE = 2**63  # one past the largest id the database holds
SECRET_PATH = "/v1/tenant-7f3a9c"


@pytest.fixture
def generators(project):
    hidden = Generator.objects.create(
        project=project,
        name="hosted",
        kind=GeneratorKind.OPENAI_COMPATIBLE,
        model_name="llama-3-8b-instruct",
        endpoint=f"https://llm.internal.example{SECRET_PATH}",
        api_key_env="SYNTHREVIEW_KEY_HOSTED",
        temperature=0.7,
        top_p=0.9,
        derived_from=["llama-3-8b"],
    )
    rules = Generator.objects.create(
        project=project, name="arith", kind=GeneratorKind.PROGRAMMATIC, programmatic_name="arithmetic"
    )
    return hidden, rules


def _launch_body(version, *generators, **extra):
    body = {
        "name": "api-run",
        "template_version": version.pk,
        "generators": [g.pk for g in generators],
        "temperatures": [0.2, 0.9],
        "variables": [{"topic": "tea"}, {"topic": "milk"}, {"topic": "salt"}],
    }
    body.update(extra)
    return body


def test_generators_show_endpoints_to_admins_only(generators, lead, expert, admin_member, api_for, monkeypatch):
    monkeypatch.setenv("SYNTHREVIEW_KEY_HOSTED", "sk-not-for-anyone")
    for user in (expert, lead):
        response = api_for(user).get("projects/math/generators")
        assert response.status_code == 200
        text = response.content.decode()
        assert SECRET_PATH not in text and "sk-not-for-anyone" not in text
        by_name = {g["name"]: g for g in response.json()["items"]}
        hosted = by_name["hosted"]
        assert hosted["endpoint"] is None and hosted["key_status"] is None
        # What the generators page shows everyone: the host and the key variable's name.
        assert hosted["endpoint_host"] == "llm.internal.example"
        assert hosted["api_key_env"] == "SYNTHREVIEW_KEY_HOSTED"
        assert (hosted["temperature"], hosted["top_p"]) == (0.7, 0.9)
        assert hosted["lineage"] == ["llama-3-8b-instruct", "llama-3-8b"]
        assert by_name["arith"]["programmatic_name"] == "arithmetic"

    response = api_for(admin_member).get("projects/math/generators")
    hosted = {g["name"]: g for g in response.json()["items"]}["hosted"]
    assert hosted["endpoint"] == f"https://llm.internal.example{SECRET_PATH}"
    assert hosted["key_status"] == "set"
    assert "sk-not-for-anyone" not in response.content.decode()
    monkeypatch.delenv("SYNTHREVIEW_KEY_HOSTED")
    response = api_for(admin_member).get("projects/math/generators")
    assert {g["name"]: g for g in response.json()["items"]}["hosted"]["key_status"] == "not set in the environment"


def test_generators_page_by_name_and_stay_in_their_project(generators, other_project, lead, outsider, api_for):
    Generator.objects.create(project=other_project, name="theirs", kind=GeneratorKind.IMPORTED)
    client = api_for(lead)
    first = client.get("projects/math/generators", {"limit": 1}).json()
    assert [g["name"] for g in first["items"]] == ["arith"]
    second = client.get("projects/math/generators", {"limit": 1, "cursor": first["next_cursor"]}).json()
    assert [g["name"] for g in second["items"]] == ["hosted"] and second["next_cursor"] is None
    assert api_for(None).get("projects/math/generators").status_code == 401
    assert api_for(outsider).get("projects/math/generators").status_code == 404
    assert [g["name"] for g in api_for(outsider).get("projects/other/generators").json()["items"]] == ["theirs"]


def test_a_lead_launches_a_run_that_is_queued_and_polled_to_its_end(
    project, lead, expert, api_for, llm_server, fast_retries, django_capture_on_commit_callbacks
):
    version = topic_template(project)
    generator = openai_generator(
        project,
        "priced",
        llm_server.base_url,
        cost_per_million_input_tokens=Decimal("2"),
        cost_per_million_output_tokens=Decimal("8"),
    )
    # The test server fails this prompt every time: one row's items fail, the others succeed.
    body = _launch_body(
        version, generator, variables=[{"topic": "tea"}, {"topic": "milk"}, {"topic": "[[status:500x99]] salt"}]
    )
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api_for(lead).post("projects/math/runs", body)
    assert response.status_code == 202, response.json()
    accepted = response.json()
    run = GenerationRun.objects.get(name="api-run")
    assert accepted == {"id": run.pk, "status": "queued", "url": f"/api/v1/projects/math/runs/{run.pk}"}
    assert response["Location"] == accepted["url"]
    # 3 rows × 1 generator × 2 temperatures; the worker's task waits for the commit.
    assert (run.items_total, run.created_by) == (6, lead)
    assert len(callbacks) == 1
    assert AuditLog.objects.get(action="run.create").actor == lead

    # Experts may watch a run, as on the run page.
    watcher = api_for(expert)
    queued = watcher.get(accepted["url"]).json()
    assert (queued["status"], queued["finished"]) == ("queued", False)
    assert queued["progress"]["items_total"] == 6 and queued["progress"]["pending"] == 6
    assert queued["progress"]["done"] == 0 and queued["lanes"] == []
    assert [cell["temperature"] for cell in queued["grid"]] == [0.2, 0.9]

    run_execute(run_id=run.pk)  # what the worker's task calls

    done = watcher.get(accepted["url"]).json()
    assert (done["status"], done["finished"]) == ("completed", True)
    progress = done["progress"]
    assert (progress["done"], progress["failed"], progress["pending"]) == (4, 2, 0)
    assert progress["finished_share"] == 1.0
    assert {item["row"] for item in done["failed_items"]} == {3}
    assert all("500" in item["error"] for item in done["failed_items"])
    # The test server counts words: the prompt's as prompt tokens, the answer's as completion tokens.
    items = list(RunItem.objects.filter(run=run, sample__isnull=False).select_related("sample"))
    prompt_words = sum(len(item.prompt.split()) for item in items)
    answer_words = sum(len(item.sample.output.split()) for item in items)
    assert (progress["prompt_tokens"], progress["completion_tokens"]) == (prompt_words, answer_words)
    assert progress["cost"] == pytest.approx((2 * prompt_words + 8 * answer_words) / 1e6)
    [lane] = done["lanes"]
    assert (lane["generator"], lane["done"], lane["failed"], lane["samples"]) == ("priced", 4, 2, 4)

    listed = watcher.get("projects/math/runs").json()["items"]
    assert [(r["id"], r["status"], r["items_done"], r["items_failed"]) for r in listed] == [(run.pk, "completed", 4, 2)]
    assert listed[0]["generators"] == [{"id": generator.pk, "name": "priced"}]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", None),
        ({"name": "n" * 201}, "name", None),
        ({"generators": []}, "generators", None),
        ({"template_version": HUGE}, "template_version", None),
        ({"constraints": "length short=2"}, "constraints", None),
        ({"variables": []}, "variables", "empty"),
        ({"variables": [{"topic": "tea"}, "not an object"]}, "variables.1", None),
        ({"fewshot_per_item": 21}, "fewshot_per_item", None),
        ({"temperatures": [0.5, 3.0]}, None, "temperature 3.0 is outside 0–2"),
        ({"variables": [{"subject": "tea"}]}, None, "row 1: no value for topic"),
    ],
)
def test_bad_run_input_is_a_422_naming_the_field(change, field, message, project, lead, api_for, llm_server):
    generator = openai_generator(project, "a", llm_server.base_url)
    response = api_for(lead).post("projects/math/runs", _launch_body(topic_template(project), generator, **change))
    assert response.status_code == 422, response.json()
    body = response.json()
    assert body["code"] == "invalid" and body["field"] == field
    if message is not None:
        assert message in body["message"]
    assert not GenerationRun.objects.exists()


def test_another_projects_template_or_generator_is_not_a_choice(project, other_project, lead, api_for, llm_server):
    ours = openai_generator(project, "a", llm_server.base_url)
    theirs = openai_generator(other_project, "b", llm_server.base_url)
    client = api_for(lead)
    response = client.post("projects/math/runs", _launch_body(topic_template(project), theirs))
    assert (response.status_code, response.json()["field"]) == (422, "generators")
    response = client.post("projects/math/runs", _launch_body(topic_template(other_project), ours))
    assert (response.status_code, response.json()["field"]) == (422, "template_version")
    assert not GenerationRun.objects.exists()


def test_a_second_run_of_the_same_name_is_refused(project, lead, api_for, llm_server):
    body = _launch_body(topic_template(project), openai_generator(project, "a", llm_server.base_url))
    client = api_for(lead)
    assert client.post("projects/math/runs", body).status_code == 202
    response = client.post("projects/math/runs", body)
    assert response.status_code == 422
    assert "a run named 'api-run' already exists" in response.json()["message"]
    assert GenerationRun.objects.count() == 1


def test_only_leads_launch_runs(project, expert, outsider, lead, api_for, llm_server):
    body = _launch_body(topic_template(project), openai_generator(project, "a", llm_server.base_url))
    assert api_for(None).post("projects/math/runs", body).status_code == 401
    assert api_for(expert).post("projects/math/runs", body).status_code == 403
    assert api_for(lead, role_cap="expert").post("projects/math/runs", body).status_code == 403
    assert api_for(outsider).post("projects/math/runs", body).status_code == 404
    assert not GenerationRun.objects.exists()


def test_who_may_read_runs_and_whose_runs_they_are(project, other_project, expert, outsider, api_for):
    ours = completed_run(project, "ours", template_version(project))
    theirs = completed_run(other_project, "theirs", template_version(other_project))
    for path in ("projects/math/runs", f"projects/math/runs/{ours.pk}"):
        assert api_for(None).get(path).status_code == 401
        assert api_for(outsider).get(path).status_code == 404
        assert api_for(expert).get(path).status_code == 200
    assert api_for(expert).get(f"projects/math/runs/{theirs.pk}").status_code == 404
    assert api_for(outsider).get(f"projects/other/runs/{ours.pk}").status_code == 404
    response = api_for(expert).get(f"projects/math/runs/{HUGE}")
    assert (response.status_code, response.json()["field"]) == (422, "run_id")


def test_runs_page_by_cursor_newest_first(project, expert, api_for):
    version = template_version(project)
    made = [completed_run(project, f"run-{n}", version).pk for n in range(3)]
    client = api_for(expert)
    first = client.get("projects/math/runs", {"limit": 2}).json()
    assert [r["id"] for r in first["items"]] == [made[2], made[1]]
    assert first["items"][0]["template"] == "tpl-a" and first["items"][0]["template_version"] == 1
    second = client.get("projects/math/runs", {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [r["id"] for r in second["items"]] == [made[0]] and second["next_cursor"] is None


def test_the_run_list_costs_the_same_queries_for_many_runs_as_for_one(project, expert, api_for, llm_server):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    version = template_version(project)
    generator = openai_generator(project, "a", llm_server.base_url)
    client = api_for(expert)
    completed_run(project, "run-0", version, generator)
    client.get("projects/math/runs")  # the token's first use is recorded once; measure after it
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("projects/math/runs").json()["items"]) == 1
    for n in range(1, 6):
        completed_run(project, f"run-{n}", version, generator)
    with CaptureQueriesContext(connection) as six:
        assert len(client.get("projects/math/runs").json()["items"]) == 6
    assert len(six) == len(one)
