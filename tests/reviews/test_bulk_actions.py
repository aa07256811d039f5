"""Bulk accept and reject by filter: the confirmation, the one audit-log entry,
a count that moved, the expert's page-size limit, scoping, counters, clusters."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from generation.models import Sample
from reviews.models import Cluster
from synthreview.projects.models import AuditLog
from tests.generation.ingest_helpers import counted_samples, counters
from tests.reviews.review_helpers import (
    XSS,
    XSS_ESCAPED,
    add_sample,
    add_samples,
    body,
    cluster,
    generator,
    statuses,
)

pytestmark = pytest.mark.django_db


def bulk_url(project, **params) -> str:
    return f"{reverse('samples_bulk', args=[project.slug])}?{urlencode(params)}"


def confirmed_count(response) -> int:
    return int(re.search(r'data-testid="bulk-count">([\d,]+)<', body(response)).group(1).replace(",", ""))


def confirmed_members(response) -> str:
    """The token of the members the confirmation page showed, as its form sends it back."""
    return re.search(r'name="members" value="([^"]*)"', body(response)).group(1)


def post_bulk(client, project, **data):
    return client.post(reverse("samples_bulk", args=[project.slug]), data)


def live_counts(project) -> dict[tuple[str, str], int]:
    return {key: value for key, value in counters(project).items() if value}


@pytest.fixture
def gen_b(project):
    return generator(project, "gen-b")


def test_the_confirmation_shows_the_exact_count(project, gen_b, expert, client_for):
    add_samples(project, 7, gen=gen_b)
    add_samples(project, 4)
    response = client_for(expert).get(bulk_url(project, generator=gen_b.pk, action="reject"))
    assert response.status_code == 200
    assert confirmed_count(response) == 7
    assert "This will reject" in body(response)


def test_a_confirmed_bulk_reject_changes_statuses_and_writes_one_audit_entry(project, gen_b, lead, client_for):
    matching = add_samples(project, 7, gen=gen_b)
    already = add_sample(project, gen=gen_b, status="rejected")
    others = add_samples(project, 3)
    response = post_bulk(client_for(lead), project, generator=gen_b.pk, action="reject", expected_count=8)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('sample_list', args=[project.slug])}?generator={gen_b.pk}"
    assert statuses(matching + [already]) == ["rejected"] * 8
    assert statuses(others) == ["pending"] * 3
    entry = AuditLog.objects.get()
    assert entry.action == "samples.bulk_reject" and entry.actor == lead and entry.object_type == "bulk"
    # The already-rejected sample did not change, so the entry does not list it.
    assert sorted(entry.details["sample_ids"]) == [s.pk for s in matching]
    assert entry.details["filter"] == {"generator": gen_b.pk}
    assert (entry.details["matched"], entry.details["changed"]) == (8, 7)


def test_a_bulk_accept_keeps_the_counters_right(project, gen_b, lead, client_for):
    add_samples(project, 4, gen=gen_b)
    add_samples(project, 2, gen=gen_b, status="rejected")
    add_samples(project, 3, origin="real")
    post_bulk(client_for(lead), project, generator=gen_b.pk, action="accept", expected_count=6)
    assert live_counts(project) == {("synthetic", "accepted"): 6, ("real", "pending"): 3}
    assert live_counts(project) == counted_samples(project)


def test_a_count_that_changed_since_the_confirmation_is_409_and_writes_nothing(project, gen_b, lead, client_for):
    add_samples(project, 7, gen=gen_b)
    client = client_for(lead)
    assert confirmed_count(client.get(bulk_url(project, generator=gen_b.pk, action="reject"))) == 7
    add_sample(project, gen=gen_b)  # an import lands between confirming and posting
    response = post_bulk(client, project, generator=gen_b.pk, action="reject", expected_count=7)
    assert response.status_code == 409
    assert "The filter now matches 8 samples, not the 7 you confirmed." in body(response)
    assert confirmed_count(response) == 8
    assert set(Sample.objects.values_list("status", flat=True)) == {"pending"}
    assert not AuditLog.objects.exists()
    assert live_counts(project) == {("synthetic", "pending"): 8}


def test_an_expert_may_act_on_a_page_of_samples(project, gen_b, expert, client_for):
    samples = add_samples(project, 50, gen=gen_b)
    client = client_for(expert)
    assert confirmed_count(client.get(bulk_url(project, generator=gen_b.pk, action="accept"))) == 50
    response = post_bulk(client, project, generator=gen_b.pk, action="accept", expected_count=50)
    assert response.status_code == 302
    assert statuses(samples) == ["accepted"] * 50


def test_an_expert_gets_403_for_more_than_a_page_of_samples(project, gen_b, expert, client_for):
    samples = add_samples(project, 51, gen=gen_b)
    client = client_for(expert)
    assert client.get(bulk_url(project, generator=gen_b.pk, action="reject")).status_code == 403
    response = post_bulk(client, project, generator=gen_b.pk, action="reject", expected_count=51)
    assert response.status_code == 403
    assert statuses(samples) == ["pending"] * 51
    assert not AuditLog.objects.exists()


def test_a_lead_may_act_on_more_than_a_page(project, gen_b, lead, client_for):
    samples = add_samples(project, 60, gen=gen_b)
    client = client_for(lead)
    assert confirmed_count(client.get(bulk_url(project, generator=gen_b.pk, action="reject"))) == 60
    assert post_bulk(client, project, generator=gen_b.pk, action="reject", expected_count=60).status_code == 302
    assert statuses(samples) == ["rejected"] * 60
    assert len(AuditLog.objects.get().details["sample_ids"]) == 60


def test_selected_ids_of_another_project_are_ignored(project, other_project, expert, client_for):
    mine = add_samples(project, 3)
    theirs = add_sample(other_project)
    selection = f"{mine[0].pk},{theirs.pk},{mine[2].pk}"
    client = client_for(expert)
    assert confirmed_count(client.get(bulk_url(project, ids=selection, action="reject"))) == 2
    response = post_bulk(client, project, ids=selection, action="reject", expected_count=2)
    assert response.status_code == 302
    assert statuses(mine) == ["rejected", "pending", "rejected"]
    assert statuses([theirs]) == ["pending"]
    assert sorted(AuditLog.objects.get().details["sample_ids"]) == [mine[0].pk, mine[2].pk]


def test_a_cluster_filter_alone_also_marks_the_cluster(project, lead, client_for):
    members = add_samples(project, 3)
    outside = add_sample(project)
    dense = cluster(project, 4, members, low=True)
    client = client_for(lead)
    confirm = client.get(bulk_url(project, cluster=dense.pk, action="reject"))
    assert confirmed_count(confirm) == 3 and "cluster #4" in body(confirm)
    assert (
        post_bulk(
            client, project, cluster=dense.pk, action="reject", expected_count=3, members=confirmed_members(confirm)
        ).status_code
        == 302
    )
    assert statuses(members) == ["rejected"] * 3 and statuses([outside]) == ["pending"]
    assert Cluster.objects.get(pk=dense.pk).status == "rejected"
    assert AuditLog.objects.get().details["filter"] == {"cluster": dense.pk}


def test_a_cluster_with_another_filter_leaves_the_cluster_mark_alone(project, lead, client_for):
    members = add_samples(project, 2) + [add_sample(project, status="accepted")]
    dense = cluster(project, 4, members)
    post_bulk(client_for(lead), project, cluster=dense.pk, status="pending", action="reject", expected_count=2)
    assert statuses(members) == ["rejected", "rejected", "accepted"]
    assert Cluster.objects.get(pk=dense.pk).status == "open"


def test_another_projects_cluster_is_404(project, other_project, lead, client_for):
    theirs = cluster(other_project, 1, [add_sample(other_project)])
    client = client_for(lead)
    assert client.get(bulk_url(project, cluster=theirs.pk, action="reject")).status_code == 404
    assert post_bulk(client, project, cluster=theirs.pk, action="reject", expected_count=1).status_code == 404
    assert Cluster.objects.get(pk=theirs.pk).status == "open"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"action": "delete", "expected_count": "2"}, "Choose accept or reject."),
        ({"expected_count": "2"}, "Choose accept or reject."),
        ({"action": "reject"}, "The confirmation was incomplete"),
        ({"action": "reject", "expected_count": "two"}, "The confirmation was incomplete"),
        (
            {"action": "reject", "expected_count": "2", "novelty_min": "0.9", "novelty_max": "0.1"},
            "The filter is not valid: The novelty range is empty",
        ),
    ],
)
def test_bad_bulk_input_is_400_and_changes_nothing(data, message, project, lead, client_for):
    samples = add_samples(project, 2)
    response = post_bulk(client_for(lead), project, **data)
    assert response.status_code == 400
    assert message in body(response)
    assert statuses(samples) == ["pending", "pending"]
    assert not AuditLog.objects.exists()


def test_the_bulk_endpoint_is_csrf_protected(project, lead):
    from django.test import Client

    samples = add_samples(project, 2)
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)
    response = client.post(reverse("samples_bulk", args=[project.slug]), {"action": "reject", "expected_count": 2})
    assert response.status_code == 403
    assert statuses(samples) == ["pending", "pending"]


def test_the_confirmation_preview_escapes_sample_text(project, expert, client_for):
    add_sample(project, input=XSS, output=XSS)
    text = body(client_for(expert).get(bulk_url(project, status="pending", action="reject")))
    assert XSS_ESCAPED in text
    assert "<script>alert(1)" not in text


def test_a_selection_of_more_than_a_page_is_refused_not_cut(project, lead, client_for):
    samples = add_samples(project, 51)
    ids = ",".join(str(sample.pk) for sample in samples)
    response = post_bulk(client_for(lead), project, ids=ids, action="reject", expected_count=51)
    assert response.status_code == 400
    assert "Select at most 50 samples" in body(response)
    assert set(statuses(samples)) == {"pending"}
