"""Reviewers working one queue at once: each card holds its sample for a few minutes, the other
reviewers' queues pass it by, an expired hold is taken over, and a true race still answers 409."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from reviews.models import QueueClaim, Verdict
from reviews.services.queue_claims import queue_claim
from tests.reviews.review_helpers import HTMX, add_samples, body

pytestmark = pytest.mark.django_db


def queue(project, **params) -> str:
    url = reverse("review_queue", args=[project.slug])
    return f"{url}?{urlencode(params)}" if params else url


def card_sample(response) -> int | None:
    match = re.search(r'id="card" data-sample="(\d*)"', body(response))
    assert match, "no queue card on the page"
    return int(match.group(1)) if match.group(1) else None


def post_verdict(client, project, sample_id: int, value: str, *, revision: int = 0):
    return client.post(
        reverse("verdict_save", args=[project.slug, sample_id]),
        {"value": value, "revision": revision, "order": "oldest"},
        headers=HTMX,
    )


def lapse(reviewer) -> None:
    """As if the reviewer's card had been left open past its claim."""
    QueueClaim.objects.filter(reviewer=reviewer).update(expires_at=timezone.now() - timedelta(seconds=1))


@pytest.mark.parametrize("order", ["oldest", "flagged", "novelty"])
def test_two_reviewers_opening_the_queue_get_different_first_samples(order, project, expert, lead, client_for):
    s1, s2, _ = add_samples(project, 3)
    erin, lee = client_for(expert), client_for(lead)
    assert card_sample(erin.get(queue(project, order=order))) == s1.pk
    assert card_sample(lee.get(queue(project, order=order))) == s2.pk


def test_a_reviewer_reopening_the_queue_keeps_their_own_sample(project, expert, lead, client_for):
    s1, s2 = add_samples(project, 2)
    erin, lee = client_for(expert), client_for(lead)
    assert card_sample(erin.get(queue(project))) == s1.pk
    assert card_sample(lee.get(queue(project))) == s2.pk
    assert card_sample(erin.get(queue(project))) == s1.pk


def test_the_next_card_after_a_verdict_skips_the_sample_another_reviewer_holds(project, expert, lead, client_for):
    s1, s2, s3 = add_samples(project, 3)
    erin, lee = client_for(expert), client_for(lead)
    assert card_sample(erin.get(queue(project))) == s1.pk
    assert card_sample(lee.get(queue(project))) == s2.pk
    response = post_verdict(erin, project, s1.pk, "correct")
    assert response.status_code == 200
    assert card_sample(response) == s3.pk


def test_moving_to_the_next_card_lets_go_of_the_last_one(project, expert, lead, client_for):
    s1, s2, _ = add_samples(project, 3)
    erin, lee = client_for(expert), client_for(lead)
    assert card_sample(erin.get(queue(project))) == s1.pk
    assert post_verdict(erin, project, s1.pk, "unsure").status_code == 200  # s1 stays pending for others
    assert QueueClaim.objects.filter(reviewer=expert).count() == 1
    assert card_sample(lee.get(queue(project))) == s1.pk


def test_a_claim_expires_and_the_sample_goes_to_the_next_reviewer(project, expert, lead, admin_member, client_for):
    s1, s2, _ = add_samples(project, 3)
    erin, lee, ada = client_for(expert), client_for(lead), client_for(admin_member)
    assert card_sample(erin.get(queue(project))) == s1.pk
    assert card_sample(lee.get(queue(project))) == s2.pk
    lapse(expert)
    assert card_sample(ada.get(queue(project))) == s1.pk
    assert QueueClaim.objects.get(sample=s1).reviewer == admin_member


def test_a_running_claim_is_not_taken_over_but_an_expired_one_is(project, expert, lead):
    (sample,) = add_samples(project, 1)
    assert queue_claim(project=project, reviewer=expert, sample_id=sample.pk)
    assert not queue_claim(project=project, reviewer=lead, sample_id=sample.pk)
    assert queue_claim(project=project, reviewer=expert, sample_id=sample.pk)  # a renewal
    lapse(expert)
    assert queue_claim(project=project, reviewer=lead, sample_id=sample.pk)
    assert not queue_claim(project=project, reviewer=expert, sample_id=sample.pk)


def test_when_every_pending_sample_is_held_the_queue_says_so_without_showing_one(project, expert, lead, client_for):
    (only,) = add_samples(project, 1)
    assert card_sample(client_for(expert).get(queue(project))) == only.pk
    assert card_sample(client_for(lead).get(queue(project))) is None


def test_a_true_race_on_one_sample_still_answers_409(project, expert, lead, client_for):
    """Both open the same sample by its id (a link, a reload): the claim steers queues, it does not
    lock the sample, so the revision check decides."""
    (sample,) = add_samples(project, 1)
    erin, lee = client_for(expert), client_for(lead)
    assert card_sample(erin.get(queue(project, sample=sample.pk))) == sample.pk
    assert card_sample(lee.get(queue(project, sample=sample.pk))) == sample.pk
    assert post_verdict(erin, project, sample.pk, "correct").status_code == 200
    response = post_verdict(lee, project, sample.pk, "wrong")
    assert response.status_code == 409
    assert 'data-testid="conflict"' in body(response)
    assert not Verdict.objects.filter(reviewer=lead, sample=sample).exists()
