"""The review queue's live count and its empty states.

The count of pending samples drops with each verdict: the card a verdict returns brings the count
along out of band, read from the counters (never a COUNT(*) over the samples). An empty queue says
why it is empty and what to do next, with links only for the steps the reviewer's role may take."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from reviews.models import QueueClaim
from tests.reviews.audit_helpers import audit_drawn
from tests.reviews.review_helpers import HTMX, add_samples, body

pytestmark = pytest.mark.django_db


def _queue(project) -> str:
    return reverse("review_queue", args=[project.slug])


def _verdict(client, project, sample, value: str, **extra):
    data = {"value": value, "revision": sample.revision, "order": "oldest", **extra}
    return client.post(reverse("verdict_save", args=[project.slug, sample.pk]), data, headers=HTMX)


def _oob_count(html: str) -> str | None:
    found = re.search(r'<span id="queue-pending"[^>]*hx-swap-oob="true"[^>]*>([^<]*)</span>', html)
    return found.group(1) if found else None


def _next_step(html: str) -> str:
    found = re.search(r'data-testid="queue-next-step">(.*?)</p>', html, re.S)
    assert found, "the empty queue names no next step"
    return found.group(1)


def test_the_card_a_verdict_returns_carries_the_lower_pending_count_out_of_band(project, expert, client_for):
    samples = add_samples(project, 3)
    client = client_for(expert)
    assert "3 samples pending in this project" in body(client.get(_queue(project)))

    assert _oob_count(body(_verdict(client, project, samples[0], "correct"))) == "2 samples pending in this project"
    assert _oob_count(body(_verdict(client, project, samples[1], "wrong", error_category="hallucination"))) == (
        "1 sample pending in this project"
    )
    # Unsure leaves the sample pending: the count stays.
    assert _oob_count(body(_verdict(client, project, samples[2], "unsure"))) == "1 sample pending in this project"


def test_the_full_page_has_one_pending_count_and_no_out_of_band_copy(project, expert, client_for):
    add_samples(project, 2)
    page = body(client_for(expert).get(_queue(project)))
    assert page.count('<span id="queue-pending"') == 1
    assert "hx-swap-oob" not in page


def test_an_audit_card_carries_no_project_count(project, expert, lead, client_for):
    """The audit queue shows its own progress; a project count swapped into it would have no target."""
    add_samples(project, 12)
    audit = audit_drawn(project, lead, size=10)
    response = client_for(expert).get(f"{_queue(project)}?audit={audit.pk}", headers=HTMX)
    assert "queue-pending" not in body(response)


def test_a_verdict_counts_nothing_over_the_samples_table(project, expert, client_for):
    samples = add_samples(project, 3)
    client = client_for(expert)
    client.get(_queue(project))
    with CaptureQueriesContext(connection) as queries:
        _verdict(client, project, samples[0], "correct")
    counted = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and 'generation_sample"' in q["sql"]]
    assert counted == []


def test_an_empty_project_s_queue_tells_a_lead_to_import_or_start_a_run(project, lead, client_for):
    page = body(client_for(lead).get(_queue(project)))
    assert "Every pending sample has your verdict" not in page
    assert "No samples yet" in page
    step = _next_step(page)
    assert f'href="{reverse("import_new", args=[project.slug])}"' in step
    assert f'href="{reverse("run_new", args=[project.slug])}"' in step


def test_an_empty_project_s_queue_offers_an_expert_no_step_a_lead_must_take(project, expert, lead, client_for):
    expert_step = _next_step(body(client_for(expert).get(_queue(project))))
    lead_step = _next_step(body(client_for(lead).get(_queue(project))))
    assert expert_step != lead_step
    assert "href" not in expert_step
    assert "A lead fills it" in expert_step
    # And the links hidden from the expert are indeed refused to them.
    assert client_for(expert).get(reverse("import_new", args=[project.slug])).status_code == 403
    assert client_for(expert).get(reverse("run_new", args=[project.slug])).status_code == 403


def test_a_queue_whose_samples_are_all_decided_says_so(project, expert, lead, client_for):
    add_samples(project, 2, status="accepted")
    add_samples(project, 1, status="rejected")
    expert_page = body(client_for(expert).get(_queue(project)))
    assert "Every sample in this project is accepted or rejected" in expert_page
    assert f'href="{reverse("sample_list", args=[project.slug])}"' in _next_step(expert_page)
    assert reverse("import_new", args=[project.slug]) not in _next_step(expert_page)
    lead_step = _next_step(body(client_for(lead).get(_queue(project))))
    assert f'href="{reverse("import_new", args=[project.slug])}"' in lead_step


def test_a_queue_with_pending_samples_all_judged_by_the_reviewer_says_they_are_done(project, expert, client_for):
    sample = add_samples(project, 1)[0]
    client = client_for(expert)
    response = _verdict(client, project, sample, "unsure")
    page = body(response)
    assert 'data-testid="queue-empty"' in page
    assert "Nothing left for you" in page
    assert "Every pending sample has your verdict" in page
    assert _oob_count(page) == "1 sample pending in this project"


def test_a_sample_on_another_reviewer_s_card_is_not_called_empty_project(project, expert, lead, client_for):
    add_samples(project, 1)
    client_for(lead).get(_queue(project))  # the lead's card now holds the only sample
    assert QueueClaim.objects.filter(reviewer=lead).exists()
    page = body(client_for(expert).get(_queue(project)))
    assert "Nothing left for you" in page and "No samples yet" not in page
