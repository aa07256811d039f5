"""The review queue: its three orders, skipping and going back, verdicts by htmx
and by plain POST, conflicts between reviewers, undo, and what each write
leaves in the counters and the audit log."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from generation.models import Sample
from reviews.models import QueueClaim, Verdict
from synthreview.projects.models import AuditLog
from tests.generation.ingest_helpers import counted_samples, counters
from tests.reviews.audit_helpers import audit_drawn, scored_items
from tests.reviews.review_helpers import (
    HTMX,
    XSS,
    XSS_ESCAPED,
    add_sample,
    add_samples,
    body,
    flag,
    group,
    link,
    score,
)

pytestmark = pytest.mark.django_db


def queue(project, **params) -> str:
    url = reverse("review_queue", args=[project.slug])
    return f"{url}?{urlencode(params)}" if params else url


def verdict_url(project, sample) -> str:
    return reverse("verdict_save", args=[project.slug, sample.pk])


def undo_url(project) -> str:
    return reverse("verdict_undo", args=[project.slug])


def card_sample(response) -> int | None:
    """The id of the sample on the queue card, or None for the empty queue."""
    match = re.search(r'id="card" data-sample="(\d*)"', body(response))
    assert match, "no queue card on the page"
    return int(match.group(1)) if match.group(1) else None


def card_revision(response) -> int:
    return int(re.search(r'name="revision" value="(\d+)"', body(response)).group(1))


def walk(client, project, order: str, steps: int) -> list[int]:
    """The samples a reviewer sees pressing j (skip) from the start of the queue."""
    response = client.get(queue(project, order=order))
    seen = [card_sample(response)]
    for _ in range(steps - 1):
        response = client.get(link(response, "next-link"), headers=HTMX)
        seen.append(card_sample(response))
    return seen


def post_verdict(client, project, sample, value: str, *, revision: int = 0, htmx: bool = True, **extra):
    data = {"value": value, "revision": revision, "order": "oldest", **extra}
    return client.post(verdict_url(project, sample), data, headers=HTMX if htmx else {})


def live_counts(project) -> dict[tuple[str, str], int]:
    return {key: value for key, value in counters(project).items() if value}


# --- orders -----------------------------------------------------------------


def test_oldest_order_starts_at_the_lowest_id_pending_sample(project, expert, client_for):
    done, first, second = add_samples(project, 3)
    Sample.objects.filter(pk=done.pk).update(status="accepted")
    assert card_sample(client_for(expert).get(queue(project))) == first.pk
    assert walk(client_for(expert), project, "oldest", 3) == [first.pk, second.pk, first.pk]


def test_flagged_order_shows_flagged_samples_first_then_the_rest_by_id(project, expert, client_for):
    s1, s2, s3, s4, s5 = add_samples(project, 5)
    flag(s4, "length")
    flag(s2, "math_check")
    flag(s2, "length")  # two flags still make one place in the queue
    seen = walk(client_for(expert), project, "flagged", 6)
    assert seen == [s2.pk, s4.pk, s1.pk, s3.pk, s5.pk, s2.pk]


def test_novelty_order_shows_lowest_novelty_first_and_unscored_last(project, expert, client_for):
    s1, s2, s3, s4, s5 = add_samples(project, 5)
    score(s1, 0.5)
    score(s3, 0.1)
    score(s4, 0.1)  # a tie goes by id
    score(s5, None)  # a similarity row without a score counts as unscored
    seen = walk(client_for(expert), project, "novelty", 6)
    assert seen == [s3.pk, s4.pk, s1.pk, s2.pk, s5.pk, s3.pk]


def test_previous_goes_back_one_sample_in_the_same_order(project, expert, client_for):
    s1, s2, s3 = add_samples(project, 3)
    score(s2, 0.2)
    client = client_for(expert)
    first = client.get(queue(project, order="novelty"))
    assert card_sample(first) == s2.pk
    second = client.get(link(first, "next-link"), headers=HTMX)
    third = client.get(link(second, "next-link"), headers=HTMX)
    assert [card_sample(second), card_sample(third)] == [s1.pk, s3.pk]
    back = client.get(link(third, "prev-link"), headers=HTMX)
    assert card_sample(back) == s1.pk
    # Back across the boundary from the unscored samples to the scored ones.
    assert card_sample(client.get(link(back, "prev-link"), headers=HTMX)) == s2.pk


def test_previous_at_the_first_sample_stays_there_and_says_so(project, expert, client_for):
    s1, _ = add_samples(project, 2)
    client = client_for(expert)
    first = client.get(queue(project))
    response = client.get(link(first, "prev-link"), headers=HTMX)
    assert response.status_code == 200
    assert card_sample(response) == s1.pk
    assert "This is the first sample in the queue." in body(response)


def test_a_reviewers_verdicted_samples_leave_their_queue_but_unsure_ones_stay_for_others(
    project, expert, lead, client_for
):
    s1, s2, s3 = add_samples(project, 3)
    erin, lee = client_for(expert), client_for(lead)
    assert post_verdict(erin, project, s1, "unsure").status_code == 200
    assert post_verdict(erin, project, s2, "correct").status_code == 200
    assert card_sample(erin.get(queue(project))) == s3.pk
    # Erin's card holds s3 for a few minutes (tests/reviews/test_queue_claims.py); here it has lapsed.
    QueueClaim.objects.update(expires_at=timezone.now())
    # s1 is still pending, so a second reviewer gets it; s2 is accepted and gone for everyone.
    assert walk(lee, project, "oldest", 3) == [s1.pk, s3.pk, s1.pk]


def test_the_queue_is_empty_once_every_pending_sample_has_my_verdict(project, expert, client_for):
    only = add_sample(project)
    response = post_verdict(client_for(expert), project, only, "unsure")
    assert card_sample(response) is None
    assert 'data-testid="queue-empty"' in body(response)


def test_a_sample_of_another_project_cannot_be_opened_in_the_queue(project, other_project, expert, client_for):
    theirs = add_sample(other_project)
    assert client_for(expert).get(queue(project, sample=theirs.pk)).status_code == 404


# --- verdicts ---------------------------------------------------------------


@pytest.mark.parametrize(("value", "status"), [("correct", "accepted"), ("wrong", "rejected"), ("unsure", "pending")])
def test_an_htmx_verdict_is_saved_and_the_next_card_comes_back(value, status, project, expert, client_for):
    s1, s2 = add_samples(project, 2)
    response = post_verdict(client_for(expert), project, s1, value)
    assert response.status_code == 200
    assert card_sample(response) == s2.pk
    assert f"Saved {value} on sample {s1.pk}." in body(response)
    s1.refresh_from_db()
    assert s1.status == status
    assert s1.revision == 1
    assert Verdict.objects.get(sample=s1, reviewer=expert).value == value


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("correct", {("synthetic", "pending"): 1, ("synthetic", "accepted"): 1, ("real", "pending"): 1}),
        ("wrong", {("synthetic", "pending"): 1, ("synthetic", "rejected"): 1, ("real", "pending"): 1}),
        ("unsure", {("synthetic", "pending"): 2, ("real", "pending"): 1}),
    ],
)
def test_the_counters_follow_each_verdict(value, expected, project, expert, client_for):
    s1, _ = add_samples(project, 2)
    add_sample(project, origin="real")
    post_verdict(client_for(expert), project, s1, value)
    assert live_counts(project) == expected
    assert live_counts(project) == counted_samples(project)


def test_a_correct_verdict_drops_a_stray_error_category(project, expert, client_for):
    s1, s2 = add_samples(project, 2)
    client = client_for(expert)
    post_verdict(client, project, s1, "correct", error_category="hallucination")
    post_verdict(client, project, s2, "wrong", error_category="hallucination")
    assert Verdict.objects.get(sample=s1).error_category == ""
    assert Verdict.objects.get(sample=s2).error_category == "hallucination"


def test_a_verdict_with_a_note_keeps_the_note(project, expert, client_for):
    s1 = add_sample(project)
    post_verdict(client_for(expert), project, s1, "wrong", error_category="incomplete", note="  stops early  ")
    assert Verdict.objects.get(sample=s1).note == "stops early"


@pytest.mark.parametrize(
    "data",
    [
        {"value": "maybe", "revision": "0"},
        {"value": "correct"},
        {"value": "correct", "revision": "old"},
        {"value": "correct", "revision": "-1"},
        {"value": "wrong", "revision": "0", "error_category": "typo"},
        {"revision": "0"},
    ],
    ids=[
        "unknown-value",
        "missing-revision",
        "non-numeric-revision",
        "negative-revision",
        "unknown-category",
        "missing-value",
    ],
)
def test_bad_verdict_input_is_refused_with_400_and_nothing_is_saved(data, project, expert, client_for):
    s1 = add_sample(project)
    response = client_for(expert).post(verdict_url(project, s1), data, headers=HTMX)
    assert response.status_code == 400
    assert "The verdict was not saved" in body(response)
    s1.refresh_from_db()
    assert (s1.status, s1.revision) == ("pending", 0)
    assert not Verdict.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="verdict").exists()


def test_a_verdict_on_another_projects_sample_is_404_and_saves_nothing(project, other_project, expert, client_for):
    theirs = add_sample(other_project)
    response = post_verdict(client_for(expert), project, theirs, "wrong")
    assert response.status_code == 404
    assert not Verdict.objects.exists()


# --- conflicts --------------------------------------------------------------


def test_a_verdict_on_a_stale_revision_is_refused_and_names_the_other_reviewer(project, expert, lead, client_for):
    s1 = add_sample(project)
    erin, lee = client_for(expert), client_for(lead)
    assert card_revision(erin.get(queue(project))) == 0
    post_verdict(lee, project, s1, "wrong", error_category="hallucination")
    response = post_verdict(erin, project, s1, "correct", revision=0)
    assert response.status_code == 409
    text = body(response)
    assert 'data-testid="conflict"' in text
    assert "lee-lead marked it <strong>wrong</strong> (hallucination)" in text
    # Nothing of the lead's was overwritten and the expert has no verdict.
    s1.refresh_from_db()
    assert (s1.status, s1.revision) == ("rejected", 1)
    assert list(Verdict.objects.values_list("reviewer__username", "value")) == [("lee-lead", "wrong")]
    # The card comes back with the fresh revision, ready to save over theirs.
    assert card_sample(response) == s1.pk and card_revision(response) == 1


def test_a_conflict_caused_by_a_bulk_action_names_the_lead_and_the_bulk_action(project, expert, lead, client_for):
    s1 = add_sample(project)
    erin, lee = client_for(expert), client_for(lead)
    assert card_revision(erin.get(queue(project))) == 0
    lee.post(reverse("samples_bulk", args=[project.slug]), {"ids": str(s1.pk), "action": "reject", "expected_count": 1})
    response = post_verdict(erin, project, s1, "correct", revision=0)
    assert response.status_code == 409
    assert "lee-lead rejected it in a bulk action" in body(response)
    s1.refresh_from_db()
    assert s1.status == "rejected"


def test_saving_again_with_the_fresh_revision_overwrites_deliberately(project, expert, lead, client_for):
    s1 = add_sample(project)
    erin, lee = client_for(expert), client_for(lead)
    post_verdict(lee, project, s1, "wrong")
    conflict = post_verdict(erin, project, s1, "correct", revision=0)
    response = post_verdict(erin, project, s1, "correct", revision=card_revision(conflict))
    assert response.status_code == 200
    s1.refresh_from_db()
    assert s1.status == "accepted"
    assert dict(Verdict.objects.values_list("reviewer__username", "value")) == {
        "lee-lead": "wrong",
        "erin-expert": "correct",
    }
    assert live_counts(project) == {("synthetic", "accepted"): 1}


# --- undo -------------------------------------------------------------------


def test_undo_restores_the_status_and_removes_the_verdict(project, expert, client_for):
    s1, s2 = add_samples(project, 2)
    client = client_for(expert)
    post_verdict(client, project, s1, "wrong", error_category="off_topic")
    response = client.post(undo_url(project), {"order": "oldest", "current": s2.pk}, headers=HTMX)
    assert response.status_code == 200
    assert card_sample(response) == s1.pk
    assert f"Undid your last verdict: sample {s1.pk} is back." in body(response)
    s1.refresh_from_db()
    assert s1.status == "pending"
    assert not Verdict.objects.exists()
    assert live_counts(project) == {("synthetic", "pending"): 2}


def test_undo_restores_the_verdict_it_replaced(project, expert, client_for):
    s1 = add_sample(project)
    client = client_for(expert)
    post_verdict(client, project, s1, "wrong", error_category="incomplete")
    post_verdict(client, project, s1, "correct", revision=1)
    assert Sample.objects.get(pk=s1.pk).status == "accepted"
    assert client.post(undo_url(project), headers=HTMX).status_code == 200
    s1.refresh_from_db()
    assert s1.status == "rejected"
    verdict = Verdict.objects.get(sample=s1, reviewer=expert)
    assert (verdict.value, verdict.error_category) == ("wrong", "incomplete")
    assert live_counts(project) == {("synthetic", "rejected"): 1}


def test_a_second_undo_after_restoring_a_replaced_verdict_leaves_the_sample_consistent(project, expert, client_for):
    s1 = add_sample(project)
    client = client_for(expert)
    post_verdict(client, project, s1, "wrong")
    post_verdict(client, project, s1, "correct", revision=1)
    client.post(undo_url(project), headers=HTMX)
    client.post(undo_url(project), headers=HTMX)
    s1.refresh_from_db()
    verdict = Verdict.objects.filter(sample=s1).first()
    # Either the first verdict still stands, or everything is undone back to pending:
    # never a rejected sample that nobody has a verdict on.
    assert (s1.status, verdict and verdict.value) in {("rejected", "wrong"), ("pending", None)}
    assert live_counts(project) == counted_samples(project)


def test_undo_is_refused_when_someone_changed_the_sample_since(project, expert, lead, client_for):
    s1 = add_sample(project)
    erin, lee = client_for(expert), client_for(lead)
    post_verdict(erin, project, s1, "wrong")
    post_verdict(lee, project, s1, "correct", revision=1)
    response = erin.post(undo_url(project), {"current": s1.pk}, headers=HTMX)
    assert response.status_code == 409
    assert f"Sample {s1.pk} changed after your verdict" in body(response)
    s1.refresh_from_db()
    assert s1.status == "accepted"
    assert dict(Verdict.objects.values_list("reviewer__username", "value")) == {
        "erin-expert": "wrong",
        "lee-lead": "correct",
    }
    assert not AuditLog.objects.filter(action="verdict.undo").exists()


def test_undo_with_nothing_to_undo_says_so(project, expert, client_for):
    add_sample(project)
    response = client_for(expert).post(undo_url(project), headers=HTMX)
    assert response.status_code == 200
    assert "You have no verdict to undo in this project." in body(response)


def test_verdicts_and_undos_are_written_to_the_audit_log(project, expert, client_for):
    s1 = add_sample(project)
    client = client_for(expert)
    post_verdict(client, project, s1, "wrong", error_category="unsafe")
    client.post(undo_url(project), headers=HTMX)
    entries = list(AuditLog.objects.filter(project=project).order_by("id"))
    assert [(e.action, e.object_type, e.object_id, e.actor_id) for e in entries] == [
        ("verdict.record", "generation.sample", str(s1.pk), expert.pk),
        ("verdict.undo", "generation.sample", str(s1.pk), expert.pk),
    ]
    assert entries[0].details["value"] == "wrong"
    assert entries[0].details["status"] == {"from": "pending", "to": "rejected"}
    assert entries[1].details["status"] == {"from": "rejected", "to": "pending"}


# --- without htmx -----------------------------------------------------------


def test_a_plain_verdict_post_redirects_to_the_next_sample(project, expert, client_for):
    s1, s2 = add_samples(project, 2)
    client = client_for(expert)
    response = post_verdict(client, project, s1, "correct", htmx=False)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("review_queue", args=[project.slug]))
    assert card_sample(client.get(response["Location"])) == s2.pk
    assert Sample.objects.get(pk=s1.pk).status == "accepted"


def test_a_plain_undo_post_redirects_to_the_restored_sample(project, expert, client_for):
    s1, _ = add_samples(project, 2)
    client = client_for(expert)
    post_verdict(client, project, s1, "wrong", htmx=False)
    response = client.post(undo_url(project))
    assert response.status_code == 302
    assert card_sample(client.get(response["Location"])) == s1.pk


def test_the_verdict_endpoint_refuses_get(project, expert, client_for):
    s1 = add_sample(project)
    assert client_for(expert).get(verdict_url(project, s1)).status_code == 405


# --- cost and safety --------------------------------------------------------


@pytest.mark.parametrize("count", [5, 50])
def test_the_queue_page_costs_a_fixed_number_of_queries(
    count, project, expert, lead, admin_member, client_for, django_assert_max_num_queries
):
    samples = add_samples(project, count)
    for sample in samples[::3]:
        flag(sample)
        score(sample, 0.4, neighbours=[[other.pk, 0.9] for other in samples[:5] if other != sample])
    for reviewer in (lead, admin_member):
        Verdict.objects.bulk_create([Verdict(sample=s, reviewer=reviewer, value="unsure") for s in samples])
    group(project, samples[:4])
    client = client_for(expert)
    # 13 reads (the card's lineage comes with its sample) and the claim on the card (two writes).
    with django_assert_max_num_queries(15):
        response = client.get(queue(project, order="flagged"))
    assert response.status_code == 200


def test_sample_text_on_the_queue_card_is_escaped(project, expert, client_for):
    sample = add_sample(project, input=XSS, output=XSS)
    Sample.objects.filter(pk=sample.pk).update(label=XSS)
    for response in (
        client_for(expert).get(queue(project)),
        client_for(expert).get(queue(project, sample=sample.pk), headers=HTMX),
    ):
        text = body(response)
        assert text.count(XSS_ESCAPED) >= 3
        assert "<script>alert(1)" not in text


def test_an_audit_id_padded_past_4300_digits_saves_the_verdict_in_that_audit(project, expert, lead, client_for):
    add_samples(project, 10)
    audit = audit_drawn(project, lead, size=10)
    item = scored_items(audit)[0]
    response = post_verdict(client_for(expert), project, item.sample, "correct", audit="0" * 4300 + str(audit.pk))
    assert response.status_code == 200
    assert Verdict.objects.filter(audit=audit, sample=item.sample, reviewer=expert).exists()


def test_an_unknown_audit_id_padded_past_4300_digits_is_404(project, expert, client_for):
    sample = add_sample(project)
    response = post_verdict(client_for(expert), project, sample, "correct", audit="0" * 4300 + "999999")
    assert response.status_code == 404
    assert not Verdict.objects.exists()


# Cursors a person could type or a link could be forged with: non-ASCII digits, negative numbers,
# ids past a database integer, thousands of digits, a novelty that is not a finite number.
FORGED_CURSORS = [
    "²",
    "0:²",
    "-5",
    "0:-5",
    "1:-5",
    "-5:1",
    "0:" + "9" * 30,
    "1:" + "1" * 5000,
    "0:0.5:" + "9" * 30,
    "0:1e999:1",
    "0:nan:1",
]


@pytest.mark.parametrize("forged", FORGED_CURSORS)
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_forged_queue_cursor_starts_the_queue_like_any_other_bad_cursor(
    direction, forged, project, expert, client_for
):
    first, second = add_samples(project, 2)
    client = client_for(expert)
    bad = client.get(queue(project, order="novelty", current=second.pk, **{direction: "not-a-cursor"}))
    response = client.get(queue(project, order="novelty", current=second.pk, **{direction: forged}))
    assert response.status_code == bad.status_code == 200
    assert card_sample(response) == card_sample(bad) == first.pk
    assert "This is the first sample in the queue." not in body(response)
