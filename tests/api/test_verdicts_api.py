"""GET/POST /projects/{slug}/verdicts and POST /projects/{slug}/audits/{audit_id}/verdicts: the queue's
verdict with its revision check, an audit item's verdict with its overlap, and the list, where an
expert sees only their own verdicts so an open audit's items stay blind."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generation.models import Sample
from reviews.models import AuditItem, Verdict
from reviews.selectors.blinding import HELD_ITEM_REFUSAL
from reviews.services.audits import audit_close, audit_verdict_record
from reviews.services.verdicts import verdict_record
from synthreview.projects.access import project_access
from synthreview.projects.models import AuditLog, Membership, Role
from tests.reviews.audit_helpers import audit_drawn, scored_items
from tests.reviews.review_helpers import add_sample, add_samples

pytestmark = pytest.mark.django_db

VERDICTS = "projects/math/verdicts"
HUGE = 2**63


def audit_verdicts(audit_id: int) -> str:
    return f"projects/math/audits/{audit_id}/verdicts"


def queue_verdict(sample: Sample, verdict: str = "wrong", **fields) -> dict:
    return {"sample_id": sample.pk, "verdict": verdict, "revision": sample.revision, **fields}


@pytest.fixture
def fay(project):
    user = get_user_model().objects.create_user(username="fay-expert", password="x")
    Membership.objects.create(user=user, project=project, role=Role.EXPERT)
    return user


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    return response.json()


# --- the queue's verdict ------------------------------------------------------------------------


def test_a_queue_verdict_rejects_the_sample_and_is_logged_as_the_page_logs_it(project, expert, api_for):
    sample = add_sample(project)
    response = api_for(expert).post(
        VERDICTS, queue_verdict(sample, "wrong", error_category="hallucination", note="  made up  ", time_spent_ms=4200)
    )
    body = problem(response, 200)
    assert (body["verdict"], body["error_category"], body["note"]) == ("wrong", "hallucination", "made up")
    assert (body["reviewer"], body["audit_id"], body["time_spent_ms"], body["sample_revision"]) == (
        "erin-expert",
        None,
        4200,
        1,
    )
    sample.refresh_from_db()
    assert (sample.status, sample.revision) == ("rejected", 1)
    entry = AuditLog.objects.get(action="verdict.record")
    assert (entry.actor, entry.object_id) == (expert, str(sample.pk))
    assert entry.details["status"] == {"from": "pending", "to": "rejected"}


def test_a_correct_verdict_drops_a_stray_error_category(project, expert, api_for):
    sample = add_sample(project)
    body = problem(api_for(expert).post(VERDICTS, queue_verdict(sample, "correct", error_category="other")), 200)
    assert (body["verdict"], body["error_category"]) == ("correct", "")
    assert Sample.objects.get(pk=sample.pk).status == "accepted"


def test_two_clients_racing_on_one_sample_the_second_gets_409_with_the_current_state(project, expert, lead, api_for):
    sample = add_sample(project)
    seen = queue_verdict(sample, "correct")  # both read revision 0
    problem(api_for(expert).post(VERDICTS, {**seen, "verdict": "wrong", "note": "two answers"}), 200)
    refused = problem(api_for(lead).post(VERDICTS, seen), 409)
    assert (refused["code"], refused["field"]) == ("conflict", "revision")
    assert "erin-expert marked it wrong" in refused["message"]
    assert "two answers" in refused["message"]
    assert "now rejected" in refused["message"]
    assert "revision is now 1" in refused["message"]
    assert not Verdict.objects.filter(reviewer=lead).exists()
    assert Sample.objects.get(pk=sample.pk).status == "rejected"
    # Sent again with the revision the conflict named, the lead's verdict is saved over the expert's.
    again = problem(api_for(lead).post(VERDICTS, {**seen, "revision": 1}), 200)
    assert again["sample_revision"] == 2
    assert Sample.objects.get(pk=sample.pk).status == "accepted"


@pytest.mark.django_db(transaction=True)
def test_two_clients_posting_at_once_on_one_revision_one_wins_and_one_gets_409(project, expert, lead, api_for):
    sample = add_sample(project)
    clients = {"wrong": api_for(expert), "correct": api_for(lead)}
    start = threading.Barrier(len(clients))
    answers: dict[str, int] = {}

    def post(verdict: str) -> None:
        try:
            start.wait(timeout=10)
            answers[verdict] = clients[verdict].post(VERDICTS, queue_verdict(sample, verdict)).status_code
        finally:
            connection.close()  # each thread's own connection

    threads = [threading.Thread(target=post, args=(verdict,)) for verdict in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(answers.values()) == [200, 409], answers
    winner = next(verdict for verdict, status in answers.items() if status == 200)
    sample.refresh_from_db()
    assert (sample.revision, sample.status) == (1, {"wrong": "rejected", "correct": "accepted"}[winner])
    assert list(Verdict.objects.values_list("value", flat=True)) == [winner]


def test_bad_queue_verdicts_are_422_naming_the_field(project, expert, api_for):
    sample = add_sample(project)
    client = api_for(expert)
    cases = {
        "verdict": {"verdict": "maybe"},
        "error_category": {"error_category": "typo"},
        "revision": {"revision": 2**40},
        "sample_id": {"sample_id": HUGE},
        "time_spent_ms": {"time_spent_ms": 86_400_001},
        "note": {"note": "x" * 5001},
    }
    for field, change in cases.items():
        body = problem(client.post(VERDICTS, {**queue_verdict(sample), **change}), 422)
        assert (body["code"], body["field"]) == ("invalid", field), field
    negative = problem(client.post(VERDICTS, {**queue_verdict(sample), "time_spent_ms": -1}), 422)
    assert negative["field"] == "time_spent_ms"
    assert problem(client.post(VERDICTS, {"sample_id": sample.pk, "verdict": "wrong"}), 422)["field"] == "revision"
    assert not Verdict.objects.exists()


def test_queue_verdict_access_per_role(project, other_project, expert, outsider, api_for):
    sample = add_sample(project)
    elsewhere = add_sample(other_project)
    assert problem(api_for(None).post(VERDICTS, queue_verdict(sample)), 401)["code"] == "unauthenticated"
    assert problem(api_for(outsider).post(VERDICTS, queue_verdict(sample)), 404)["code"] == "not_found"
    # Another project's sample is not found in this one.
    assert problem(api_for(expert).post(VERDICTS, queue_verdict(elsewhere)), 404)["code"] == "not_found"
    assert not Verdict.objects.exists()


def test_an_expert_may_not_judge_a_held_item_in_the_queue_but_a_lead_may(project, expert, lead, api_for):
    samples = add_samples(project, 10)
    audit_drawn(project, lead, size=10)
    held = samples[0]
    refused = problem(api_for(expert).post(VERDICTS, queue_verdict(held)), 422)
    assert (refused["code"], refused["field"], refused["message"]) == ("refused", "sample_id", HELD_ITEM_REFUSAL)
    # A lead's token capped at expert acts as an expert.
    assert problem(api_for(lead, role_cap="expert").post(VERDICTS, queue_verdict(held)), 422)["code"] == "refused"
    assert Sample.objects.get(pk=held.pk).status == "pending"
    assert problem(api_for(lead).post(VERDICTS, queue_verdict(held)), 200)["verdict"] == "wrong"


# --- an audit item's verdict --------------------------------------------------------------------


def test_an_audit_verdict_leaves_the_sample_alone_and_is_logged(project, expert, lead, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    item = scored_items(audit)[0]
    body = problem(
        api_for(expert).post(
            audit_verdicts(audit.pk), {"sample_id": item.sample_id, "verdict": "wrong", "error_category": "incomplete"}
        ),
        200,
    )
    assert (body["audit_id"], body["verdict"], body["sample_revision"]) == (audit.pk, "wrong", None)
    assert Sample.objects.get(pk=item.sample_id).status == "pending"
    entry = AuditLog.objects.get(action="audit.verdict")
    assert (entry.actor, entry.details["audit"], entry.details["value"]) == (expert, audit.pk, "wrong")
    # The reviewer revises their own verdict while the audit is open.
    revised = problem(
        api_for(expert).post(audit_verdicts(audit.pk), {"sample_id": item.sample_id, "verdict": "correct"}), 200
    )
    assert revised["id"] == body["id"] and revised["verdict"] == "correct"


def test_a_full_item_and_a_closed_audit_answer_409(project, expert, lead, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    first, second = scored_items(audit)[:2]
    problem(api_for(expert).post(audit_verdicts(audit.pk), {"sample_id": first.sample_id, "verdict": "correct"}), 200)
    full = problem(
        api_for(lead).post(audit_verdicts(audit.pk), {"sample_id": first.sample_id, "verdict": "wrong"}), 409
    )
    assert full["code"] == "conflict" and "already has its 1 verdict" in full["message"]
    audit_close(project_access(lead, project), audit=audit, reason="enough for today")
    closed = problem(
        api_for(expert).post(audit_verdicts(audit.pk), {"sample_id": second.sample_id, "verdict": "wrong"}), 409
    )
    assert closed["code"] == "conflict" and "closed" in closed["message"]
    assert Verdict.objects.filter(audit=audit).count() == 1


def test_audit_verdict_access_and_ids(project, other_project, expert, lead, outsider, api_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    item = scored_items(audit)[0]
    outside_item = add_sample(project)  # drawn after the audit: not one of its items
    body = {"sample_id": item.sample_id, "verdict": "wrong"}
    assert problem(api_for(None).post(audit_verdicts(audit.pk), body), 401)["code"] == "unauthenticated"
    assert problem(api_for(outsider).post(audit_verdicts(audit.pk), body), 404)["code"] == "not_found"
    assert problem(api_for(expert).post(audit_verdicts(audit.pk + 1000), body), 404)["code"] == "not_found"
    not_item = problem(api_for(expert).post(audit_verdicts(audit.pk), {**body, "sample_id": outside_item.pk}), 404)
    assert not_item["field"] == "sample_id"
    assert problem(api_for(expert).post(audit_verdicts(HUGE), body), 422)["field"] == "audit_id"
    assert (
        problem(api_for(expert).post(audit_verdicts(audit.pk), {**body, "sample_id": HUGE}), 422)["field"]
        == "sample_id"
    )
    assert not Verdict.objects.exists()


def test_another_projects_audit_is_not_found(project, other_project, expert, lead, outsider, api_for):
    from tests.reviews.review_helpers import generator

    add_samples(other_project, 10, gen=generator(other_project, "their-gen"))
    theirs = audit_drawn(other_project, outsider, size=10)
    item = AuditItem.objects.filter(audit=theirs).first()
    assert item is not None
    response = api_for(expert).post(audit_verdicts(theirs.pk), {"sample_id": item.sample_id, "verdict": "wrong"})
    assert problem(response, 404)["code"] == "not_found"
    assert problem(api_for(lead).get(VERDICTS, {"audit": theirs.pk}), 404)["code"] == "not_found"
    assert not Verdict.objects.exists()


# --- the list -----------------------------------------------------------------------------------


@pytest.fixture
def judged(project, expert, lead, fay):
    """Five samples judged in the queue: three by the expert, two by fay; then an open audit holding
    every sample, where fay has judged one item with a note the expert must never read."""
    samples = add_samples(project, 5)
    for sample, reviewer in zip(samples, [expert, expert, expert, fay, fay]):
        verdict_record(project_access(reviewer, project), sample_id=sample.pk, value="wrong", seen_revision=0)
    audit = audit_drawn(project, lead, size=10)
    audit_verdict_record(
        project_access(fay, project), audit=audit, sample_id=samples[0].pk, value="correct", note="FAYS-SECRET"
    )
    return {"samples": samples, "audit": audit}


def walk(client, path: str, **params) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        response = client.get(path, {**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.content
        pages.append([item["id"] for item in response.json()["items"]])
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor never ends"


def test_a_lead_lists_everyones_verdicts_newest_first_by_cursor(project, lead, judged, api_for):
    everyone = list(Verdict.objects.order_by("-pk").values_list("pk", flat=True))
    assert len(everyone) == 6
    pages = walk(api_for(lead), VERDICTS, limit=4)
    assert pages == [everyone[:4], everyone[4:]]
    assert walk(api_for(lead), VERDICTS, limit=6) == [everyone]


def test_an_expert_lists_only_their_own_verdicts_and_never_another_reviewers_on_a_held_item(
    project, expert, fay, judged, api_for
):
    client = api_for(expert)
    mine = list(Verdict.objects.filter(reviewer=expert).order_by("-pk").values_list("pk", flat=True))
    response = client.get(VERDICTS)
    assert [item["id"] for item in response.json()["items"]] == mine
    assert {item["reviewer"] for item in response.json()["items"]} == {"erin-expert"}
    # Asking for fay's verdicts, or for the audit's, or the held sample's, tells nothing about them.
    for params in ({"reviewer": "fay-expert"}, {"audit": judged["audit"].pk}, {"sample": judged["samples"][0].pk}):
        response = client.get(VERDICTS, params)
        assert response.status_code == 200
        assert "fay-expert" not in response.content.decode() and "FAYS-SECRET" not in response.content.decode()
    assert client.get(VERDICTS, {"reviewer": "fay-expert"}).json()["items"] == []


def test_a_lead_token_capped_at_expert_sees_only_the_leads_own(project, lead, judged, api_for):
    own = add_sample(project)
    verdict_record(project_access(lead, project), sample_id=own.pk, value="correct", seen_revision=0)
    items = api_for(lead, role_cap="expert").get(VERDICTS).json()["items"]
    assert [(item["sample_id"], item["reviewer"]) for item in items] == [(own.pk, "lee-lead")]
    assert len(api_for(lead).get(VERDICTS).json()["items"]) == 7


def test_the_list_reads_in_as_many_queries_for_many_verdicts_as_for_few(
    project, lead, fay, judged, api_for, django_assert_num_queries
):
    client = api_for(lead)
    client.get(VERDICTS)  # the token's first use is recorded once
    with CaptureQueriesContext(connection) as few:
        assert len(client.get(VERDICTS, {"limit": 2}).json()["items"]) == 2
    with django_assert_num_queries(len(few)):
        assert len(client.get(VERDICTS, {"limit": 6}).json()["items"]) == 6


def test_the_list_filters_by_reviewer_audit_sample_and_time(project, lead, fay, judged, api_for):
    client = api_for(lead)

    def listed(**params) -> set[int]:
        response = client.get(VERDICTS, params)
        assert response.status_code == 200, response.content
        return {item["id"] for item in response.json()["items"]}

    fays = set(Verdict.objects.filter(reviewer=fay).values_list("pk", flat=True))
    assert listed(reviewer="fay-expert") == fays and len(fays) == 3
    in_audit = listed(audit=judged["audit"].pk)
    assert in_audit == set(Verdict.objects.filter(audit=judged["audit"]).values_list("pk", flat=True))
    assert len(in_audit) == 1
    first = judged["samples"][0]
    assert listed(sample=first.pk) == set(Verdict.objects.filter(sample=first).values_list("pk", flat=True))
    assert len(listed(sample=first.pk)) == 2
    old = Verdict.objects.filter(reviewer=fay, audit__isnull=True).order_by("pk").first()
    assert old is not None
    Verdict.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=3))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert old.pk not in listed(since=since)
    assert len(listed(since=since)) == 5
    assert listed(reviewer="nobody-at-all") == set()
    # A note comes back as plain JSON text, never as markup.
    item = client.get(VERDICTS, {"audit": judged["audit"].pk}).json()["items"][0]
    assert item["note"] == "FAYS-SECRET"


def test_the_list_refuses_bad_filters_with_422_naming_them(project, lead, api_for):
    client = api_for(lead)
    cases = {
        "audit": {"audit": HUGE},
        "sample": {"sample": 0},
        "reviewer": {"reviewer": "x" * 151},
        "since": {"since": "yesterday"},
        "cursor": {"cursor": "not-one-of-ours"},
        "limit": {"limit": 501},
    }
    for field, params in cases.items():
        assert problem(client.get(VERDICTS, params), 422)["field"] == field, field
    assert problem(client.get(VERDICTS, {"since": "0001-01-01T00:00:00+05:00"}), 422)["field"] == "since"


def test_list_access_per_role(project, other_project, outsider, api_for):
    elsewhere = add_sample(other_project)
    assert problem(api_for(None).get(VERDICTS), 401)["code"] == "unauthenticated"
    assert problem(api_for(outsider).get(VERDICTS), 404)["code"] == "not_found"
    assert problem(api_for(outsider).get("projects/other/verdicts", {"sample": elsewhere.pk}), 200)["items"] == []
