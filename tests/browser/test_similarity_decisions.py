"""A lead decides a near-duplicate group and a low-novelty cluster on the similarity page, in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generation.models import Sample, SampleStatus
from reviews.models import Cluster, DuplicateGroup, DuplicateGroupMember, SampleSimilarity
from synthreview.projects.models import AuditLog
from tests.browser.conftest import make_sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def near_group(project, generator) -> tuple[DuplicateGroup, list[Sample]]:
    members = [
        make_sample(project, generator, f"Tom has {n} apples and eats one. How many are left?", str(n - 1))
        for n in (5, 6, 7)
    ]
    group = DuplicateGroup.objects.create(
        project=project,
        kind="near",
        signature="a" * 64,
        size=3,
        min_similarity=0.96,
        threshold=0.95,
        representative=members[0],
        representative_reason="the oldest member",
    )
    for sample, similarity in zip(members, (1.0, 0.98, 0.96), strict=True):
        DuplicateGroupMember.objects.create(group=group, sample=sample, similarity=similarity)
    return group, members


def test_lead_keeps_a_member_other_than_the_suggested_one(open_page, live_server, project, lead, near_group):
    group, (suggested, chosen, other) = near_group
    page = open_page(lead)
    page.goto(f"{live_server.url}/p/{project.slug}/similarity/")
    card = page.locator(f"#group-{group.pk}")
    expect(card.locator(f'input[name="keep"][value="{suggested.pk}"]')).to_be_checked()

    card.locator(f'input[name="keep"][value="{chosen.pk}"]').check()
    card.get_by_test_id("resolve").click()

    expect(card.get_by_test_id("group-status")).to_have_text("Resolved: kept one")
    expect(card.get_by_test_id("notice")).to_contain_text(f"Kept sample {chosen.pk}; rejected the other 2")
    statuses = dict(Sample.objects.filter(project=project).values_list("id", "status"))
    assert statuses == {
        suggested.pk: SampleStatus.REJECTED,
        chosen.pk: SampleStatus.PENDING,
        other.pk: SampleStatus.REJECTED,
    }
    group.refresh_from_db()
    assert (group.status, group.representative_id, group.resolved_by) == ("resolved", chosen.pk, lead)
    entry = AuditLog.objects.get(action="duplicate_group.resolve")
    assert entry.actor == lead and entry.object_id == str(group.pk)
    assert entry.details["kept"] == chosen.pk and entry.details["suggested"] == suggested.pk
    assert sorted(entry.details["rejected"]) == sorted([suggested.pk, other.pk])
    assert page.errors.unexpected() == []


@pytest.fixture
def low_novelty_cluster(project, generator) -> tuple[Cluster, list[Sample], Sample]:
    cluster = Cluster.objects.create(
        project=project,
        number=1,
        size=4,
        density=0.93,
        synthetic_share=1.0,
        real_anchor_distance=0.61,
        label="apples eats left",
        generator_mix={"gpt-x": 4},
        is_low_novelty=True,
        low_novelty_reason="dense, all synthetic, far from real data",
    )
    members = [
        make_sample(project, generator, f"Ann has {n} apples and eats two. How many are left?", str(n - 2))
        for n in range(3, 7)
    ]
    for sample in members:
        SampleSimilarity.objects.create(sample=sample, project=project, cluster=cluster, novelty=0.02)
    outside = make_sample(project, generator, "A train leaves at noon at 60 km/h. How far by 2pm?", "120 km")
    SampleSimilarity.objects.create(sample=outside, project=project, novelty=0.7)
    return cluster, members, outside


def test_lead_rejects_a_low_novelty_cluster_after_confirming_its_count(
    open_page, live_server, project, lead, low_novelty_cluster
):
    cluster, members, outside = low_novelty_cluster
    page = open_page(lead)
    page.goto(f"{live_server.url}/p/{project.slug}/similarity/")

    page.locator("nav.tabs").get_by_role("link", name="Clusters").click()
    card = page.locator(f"#cluster-{cluster.pk}")
    card.get_by_test_id("reject-cluster").click()

    expect(page.get_by_test_id("bulk-count")).to_have_text("4")
    expect(page.locator("h1")).to_have_text("Reject cluster #1?")
    page.locator("#confirm-bulk").click()
    page.wait_for_url(f"**/p/{project.slug}/samples/**")
    expect(page.locator("ul.messages")).to_contain_text("Rejected 4 of 4 matching samples")

    statuses = dict(Sample.objects.filter(project=project).values_list("id", "status"))
    assert all(statuses[sample.pk] == SampleStatus.REJECTED for sample in members)
    assert statuses[outside.pk] == SampleStatus.PENDING
    cluster.refresh_from_db()
    assert cluster.status == "rejected"
    entry = AuditLog.objects.get(action="samples.bulk_reject")
    assert entry.actor == lead
    assert sorted(entry.details["sample_ids"]) == sorted(sample.pk for sample in members)
    assert entry.details["filter"] == {"cluster": cluster.pk}
    assert AuditLog.objects.filter(project=project).count() == 1

    page.goto(f"{live_server.url}/p/{project.slug}/similarity/?tab=clusters")
    expect(page.locator(f"#cluster-{cluster.pk}").get_by_test_id("cluster-status")).to_have_text("Rejected")
    assert page.errors.unexpected() == []
