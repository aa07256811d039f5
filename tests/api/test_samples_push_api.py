"""POST /projects/{slug}/samples and GET /projects/{slug}/imports/{batch_id}: a JSON Lines push imported
all or nothing, with its bad lines named, retried safely by its Idempotency-Key."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from generation.models import ImportBatch, Sample
from generation.services.import_push import PushTooLarge, import_push_store
from synthreview.projects.access import project_access
from synthreview.projects.models import AuditLog
from tests.generation.ingest_helpers import assert_nothing_imported, project_state, stored

pytestmark = pytest.mark.django_db

PUSH = "projects/math/samples"
SYNTHETIC = "?origin=synthetic&generator=gpt-tutor&template=word-problems"
ROWS = [
    {"input": "What is 2 + 2?", "output": "4", "label": "easy", "topic": "sums"},
    {"prompt": "Name a prime.", "response": "7"},
    # The first row again, from the same generator: skipped as a duplicate.
    {"input": "What is 2 + 2?", "output": "4", "label": "easy", "topic": "sums"},
]


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def push(client, body: bytes, query: str = SYNTHETIC, *, key: str | None = None, content_type: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post_raw(PUSH + query, body, content_type or "application/x-ndjson", **headers)


def uploads(project) -> list[Path]:
    folder = settings.DATA_DIR / "imports" / str(project.pk)
    return sorted(folder.iterdir()) if folder.is_dir() else []


# --- the push ----------------------------------------------------------------------------


def test_a_push_imports_every_line_and_says_what_it_did(project, lead, api_for):
    response = push(api_for(lead), jsonl(ROWS))
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["rows_read"], body["imported"], body["duplicates"]) == ("completed", 3, 2, 1)
    assert body["replayed"] is False and body["errors"] == []
    assert body["url"] == f"/api/v1/projects/math/imports/{body['batch_id']}"
    assert response["Location"] == body["url"]
    assert stored(project) == [
        {
            "origin": "synthetic",
            "generator": "gpt-tutor",
            "template": "word-problems",
            "input": "What is 2 + 2?",
            "output": "4",
            "label": "easy",
            "metadata": {"topic": "sums"},
        },
        {
            "origin": "synthetic",
            "generator": "gpt-tutor",
            "template": "word-problems",
            "input": "Name a prime.",
            "output": "7",
            "label": None,
            "metadata": {},
        },
    ]
    batch = ImportBatch.objects.get(pk=body["batch_id"])
    assert batch.created_by == lead and batch.content_sha256 and batch.idempotency_key == ""
    # The audit log's row is the page's: an "import" by the caller, with what it imported.
    entry = AuditLog.objects.get(project=project, action="import")
    assert entry.actor_id == lead.pk and entry.object_id == str(batch.pk)
    assert (entry.details["imported"], entry.details["duplicates"]) == (2, 1)
    # The pushed file is gone once its import has ended.
    assert uploads(project) == []


def test_the_import_is_read_back_by_its_url(project, lead, api_for):
    client = api_for(lead)
    made = push(client, jsonl(ROWS)).json()
    response = client.get(made["url"])
    assert response.status_code == 200
    read = response.json()
    assert (read["batch_id"], read["status"], read["imported"], read["duplicates"]) == (
        made["batch_id"],
        "completed",
        2,
        1,
    )


def test_jsonl_content_type_and_a_mapping_are_taken_as_the_page_takes_them(project, admin_member, api_for):
    rows = [{"q": "Capital of France?", "a": "Paris", "who": "atlas"}]
    query = "?origin=real&map=input%3Dq&map=output%3Da"
    response = push(api_for(admin_member), jsonl(rows), query, content_type="application/jsonl")
    assert response.status_code == 201, response.content
    assert stored(project) == [
        {
            "origin": "real",
            "generator": None,
            "template": None,
            "input": "Capital of France?",
            "output": "Paris",
            "label": None,
            "metadata": {"who": "atlas"},
        }
    ]


def test_a_retried_push_with_the_same_key_imports_nothing_and_says_replayed(project, lead, api_for):
    client = api_for(lead)
    first = push(client, jsonl(ROWS), key="nightly-2024-06-01")
    assert first.status_code == 201
    samples = sorted(Sample.objects.filter(project=project).values_list("pk", flat=True))
    again = push(client, jsonl(ROWS), key="nightly-2024-06-01")
    assert again.status_code == 200, again.content
    body = again.json()
    assert body["replayed"] is True
    assert (body["batch_id"], body["imported"], body["duplicates"]) == (first.json()["batch_id"], 2, 1)
    assert sorted(Sample.objects.filter(project=project).values_list("pk", flat=True)) == samples
    assert ImportBatch.objects.filter(project=project).count() == 1
    assert AuditLog.objects.filter(project=project, action="import").count() == 1
    assert uploads(project) == []


def test_the_same_key_with_another_body_is_a_conflict(project, lead, api_for):
    client = api_for(lead)
    assert push(client, jsonl(ROWS), key="k-1").status_code == 201
    before = project_state(project)
    response = push(client, jsonl([{"input": "Other?", "output": "other"}]), key="k-1")
    assert response.status_code == 409
    body = response.json()
    assert (body["code"], body["field"]) == ("conflict", "Idempotency-Key")
    assert project_state(project) == before
    assert uploads(project) == []


def test_a_key_whose_push_failed_is_free_for_the_retry(project, lead, api_for):
    client = api_for(lead)
    refused = push(client, jsonl([{"input": "no output here"}]), key="k-2")
    assert refused.status_code == 422
    failed = ImportBatch.objects.get(project=project)
    assert failed.status == "failed"
    response = push(client, jsonl(ROWS), key="k-2")
    assert response.status_code == 201, response.content
    assert response.json()["imported"] == 2
    failed.refresh_from_db()
    assert failed.idempotency_key == ""
    assert ImportBatch.objects.get(project=project, idempotency_key="k-2").pk == response.json()["batch_id"]


def test_a_key_left_by_an_import_that_never_ended_is_free_again(project, lead, api_for):
    """A push runs in one transaction, so its batch is only ever seen finished; one still queued was
    left by a process that died outside it, and must not hold its key for ever."""
    ImportBatch.objects.create(
        project=project, file_name="api-push.jsonl", format="jsonl", status="queued", idempotency_key="k-3"
    )
    response = push(api_for(lead), jsonl(ROWS), key="k-3")
    assert response.status_code == 201, response.content
    assert Sample.objects.filter(project=project).count() == 2


def test_the_same_rows_under_other_options_are_another_push(project, lead, api_for):
    client = api_for(lead)
    assert push(client, jsonl(ROWS), key="k-opts").status_code == 201
    other = push(client, jsonl(ROWS), "?origin=synthetic&generator=another-model", key="k-opts")
    assert other.status_code == 409
    assert other.json()["field"] == "Idempotency-Key"


def test_a_push_that_never_wins_its_key_is_a_conflict(project, lead, api_for, monkeypatch):
    # The claim keeps finding the key free and the database keeps giving it to another batch.
    ImportBatch.objects.create(project=project, file_name="api-push.jsonl", format="jsonl", idempotency_key="k-4")
    monkeypatch.setattr("generation.services.import_push._push_key_claim", lambda *args: None)
    response = push(api_for(lead), jsonl(ROWS), key="k-4")
    assert response.status_code == 409
    assert response.json()["field"] == "Idempotency-Key"
    assert ImportBatch.objects.filter(project=project).count() == 1
    assert Sample.objects.filter(project=project).count() == 0
    assert uploads(project) == []


def test_a_bad_push_imports_nothing_and_names_each_bad_line(project, lead, api_for):
    lines = [
        json.dumps({"input": "Fine?", "output": "fine"}),
        json.dumps({"input": "Where is the answer?"}),
        json.dumps({"input": "Fine too?", "output": "yes"}),
        '{"input": "broken", "output": ',
        json.dumps({"input": "Last?", "output": "last"}),
    ]
    response = push(api_for(lead), ("\n".join(lines) + "\n").encode())
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["line"] == 2
    assert [error["line"] for error in body["errors"]] == [2, 4]
    assert body["errors"][0]["message"] == "missing output"
    assert "invalid JSON" in body["errors"][1]["message"]
    assert_nothing_imported(project)
    assert uploads(project) == []


def test_a_push_of_no_samples_is_refused(project, lead, api_for):
    response = push(api_for(lead), b"\n")
    assert response.status_code == 422
    assert "no samples" in response.json()["message"] + response.json()["errors"][0]["message"]


def test_a_push_over_the_limit_is_refused_before_anything_is_stored(project, lead, api_for, settings):
    settings.API_PUSH_MAX_BYTES = 1024
    rows = [{"input": f"question {n}", "output": f"answer {n}"} for n in range(60)]
    body = jsonl(rows)
    assert len(body) > 1024
    response = push(api_for(lead), body)
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert ImportBatch.objects.count() == 0
    assert uploads(project) == []


def test_a_body_streamed_past_the_limit_leaves_no_partial_file(project, lead):
    # A body that does not say its size is counted as it arrives: past the limit, the part is deleted.
    source = io.BytesIO(b"x" * 5000)
    with pytest.raises(PushTooLarge):
        import_push_store(project_access(lead, project), read=source.read, max_bytes=2048)
    assert uploads(project) == []
    kept = import_push_store(project_access(lead, project), read=io.BytesIO(b"abc").read, max_bytes=2048)
    assert (kept.size, kept.content_sha256) == (3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    assert kept.path.read_bytes() == b"abc"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?generator=gpt-tutor", "origin"),
        ("?origin=made-up&generator=gpt-tutor", "origin"),
        ("?origin=synthetic", "generator"),
        ("?origin=real&generator=gpt-tutor", "origin"),
        ("?origin=synthetic&generator=g&map=colour%3Dc", "map"),
        ("?origin=synthetic&generator=g&map=output", "map"),
        ("?origin=synthetic&generator=" + "g" * 201, "generator"),
    ],
)
def test_bad_options_are_refused_naming_the_parameter(project, lead, api_for, query, field):
    response = push(api_for(lead), jsonl(ROWS), query)
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field
    assert ImportBatch.objects.count() == 0
    assert uploads(project) == []


def test_a_long_idempotency_key_is_refused(project, lead, api_for):
    response = push(api_for(lead), jsonl(ROWS), key="k" * 201)
    assert response.status_code == 422
    assert response.json()["field"] == "Idempotency-Key"


def test_a_body_that_is_not_json_lines_is_refused(project, lead, api_for):
    response = push(api_for(lead), jsonl(ROWS), content_type="text/csv")
    assert response.status_code == 415
    assert response.json()["field"] == "Content-Type"
    assert ImportBatch.objects.count() == 0


# --- who may push ----------------------------------------------------------------------


def test_anonymous_gets_401(project, api_for):
    assert push(api_for(None), jsonl(ROWS)).status_code == 401
    assert api_for(None).get("projects/math/imports/1").status_code == 401


def test_an_outsider_gets_404(project, outsider, api_for):
    assert push(api_for(outsider), jsonl(ROWS)).status_code == 404
    assert_nothing_imported(project)


def test_an_expert_may_not_push_or_read_imports(project, expert, lead, api_for):
    made = push(api_for(lead), jsonl(ROWS)).json()
    response = push(api_for(expert), jsonl([{"input": "Mine?", "output": "mine"}]))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert Sample.objects.filter(project=project).count() == 2
    assert api_for(expert).get(made["url"]).status_code == 403


def test_a_lead_token_capped_at_expert_may_not_push(project, lead, api_for):
    assert push(api_for(lead, role_cap="expert"), jsonl(ROWS)).status_code == 403


def test_another_projects_import_is_not_found(project, other_project, lead, outsider, api_for):
    theirs = ImportBatch.objects.create(project=other_project, file_name="theirs.jsonl", format="jsonl")
    assert api_for(lead).get(f"projects/math/imports/{theirs.pk}").status_code == 404
    assert api_for(outsider).get(f"projects/other/imports/{theirs.pk}").status_code == 200


def test_a_huge_import_id_is_a_422_not_a_server_error(project, lead, api_for):
    response = api_for(lead).get(f"projects/math/imports/{10**30}")
    assert response.status_code == 422
    assert response.json()["field"] == "batch_id"


@pytest.mark.postgres(reason="two pushes in two connections at once")
@pytest.mark.django_db(transaction=True)
def test_two_pushes_of_one_key_at_once_import_once_and_the_second_replays(project, lead):
    import threading

    from django.db import connection
    from django.test import Client

    from synthreview.projects.services.api_tokens import api_token_create

    secret = api_token_create(lead, name="race").secret
    body = jsonl([{"input": f"q{n}", "output": f"a{n}"} for n in range(300)])
    answers: list[int] = []
    start = threading.Barrier(2)

    def one_push() -> None:
        start.wait()
        try:
            response = Client().post(
                f"/api/v1/projects/{project.slug}/samples{SYNTHETIC}",
                body,
                content_type="application/x-ndjson",
                HTTP_AUTHORIZATION=f"Bearer {secret}",
                HTTP_IDEMPOTENCY_KEY="same-key",
            )
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=one_push) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 201]
    assert Sample.objects.filter(project=project).count() == 300
    assert ImportBatch.objects.filter(project=project).count() == 1
