"""The similarity view: near-duplicate groups and the decisions on them, the
clusters tab and the map tab."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from generation.models import Sample
from reviews.models import DuplicateGroup, DuplicateGroupMember, EmbeddingMap
from reviews.selectors.similarity_view import GROUPS_PER_PAGE
from synthreview.projects.models import AuditLog
from tests.generation.ingest_helpers import counted_samples, counters
from tests.reviews.review_helpers import (
    HTMX,
    XSS,
    XSS_ESCAPED,
    add_sample,
    add_samples,
    body,
    cluster,
    group,
    map_points,
    members_token,
    statuses,
)

pytestmark = pytest.mark.django_db


def view_url(project, tab: str = "groups", **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"tab": tab, **params}.items())
    return f"{reverse('similarity_view', args=[project.slug])}?{query}"


def decide(client, project, action: str, target: DuplicateGroup, htmx: bool = True, **data):
    # As the card sends it: the token of the members it showed, unless the test says otherwise.
    data.setdefault("members", members_token(target))
    return client.post(reverse(action, args=[project.slug, target.pk]), data, headers=HTMX if htmx else {})


def shown_groups(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<section class="card group" id="group-(\d+)"', body(response))]


def shown_clusters(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'id="cluster-(\d+)" data-testid="cluster"', body(response))]


def next_groups(response) -> str | None:
    match = re.search(r'href="(\?tab=groups[^"]*)">Next groups', body(response))
    return unescape(match.group(1)) if match else None


def members_of(target: DuplicateGroup) -> set[int]:
    return set(DuplicateGroupMember.objects.filter(group=target).values_list("sample_id", flat=True))


# --- groups -----------------------------------------------------------------


def test_groups_are_listed_largest_first_with_a_next_page(project, expert, client_for):
    # One page and four more: the page holds GROUPS_PER_PAGE groups.
    sizes = [2, 3, 2, 4, 2, 2, 5, 2, 3, 2, 2, 6][: GROUPS_PER_PAGE + 4]
    groups = [group(project, add_samples(project, size)) for size in sizes]
    expected = [g.pk for g in sorted(groups, key=lambda g: (-g.size, g.pk))]
    client = client_for(expert)
    first = client.get(view_url(project))
    assert first.status_code == 200
    assert shown_groups(first) == expected[:GROUPS_PER_PAGE]
    second = client.get(reverse("similarity_view", args=[project.slug]) + next_groups(first))
    assert shown_groups(second) == expected[GROUPS_PER_PAGE:]
    assert next_groups(second) is None


def test_decided_groups_leave_the_open_list_but_show_under_their_status(project, lead, client_for):
    kept, dropped = group(project, add_samples(project, 2)), group(project, add_samples(project, 3))
    client = client_for(lead)
    decide(client, project, "group_not_duplicates", dropped)
    assert shown_groups(client.get(view_url(project))) == [kept.pk]
    assert shown_groups(client.get(view_url(project, status="not_duplicates"))) == [dropped.pk]
    assert shown_groups(client.get(view_url(project, status=""))) == [dropped.pk, kept.pk]


def test_resolve_keeps_the_chosen_member_and_rejects_the_rest(project, expert, client_for):
    first, chosen, third = add_samples(project, 3)
    target = group(project, [first, chosen, third])
    response = decide(client_for(expert), project, "group_resolve", target, keep=chosen.pk)
    assert response.status_code == 200
    assert f"Kept sample {chosen.pk}; rejected the other 2 as duplicates." in body(response)
    assert statuses([first, chosen, third]) == ["rejected", "pending", "rejected"]
    target.refresh_from_db()
    assert (target.status, target.representative_id, target.resolved_by) == ("resolved", chosen.pk, expert)
    entry = AuditLog.objects.get(action="duplicate_group.resolve")
    assert entry.object_id == str(target.pk)
    assert sorted(entry.details["rejected"]) == [first.pk, third.pk]
    assert sorted(entry.details["sample_ids"]) == [first.pk, third.pk]
    assert entry.details["kept"] == chosen.pk and entry.details["suggested"] == first.pk
    assert {k: v for k, v in counters(project).items() if v} == counted_samples(project)


def test_resolve_without_a_choice_keeps_the_suggested_representative(project, expert, client_for):
    members = add_samples(project, 2)
    target = group(project, members)
    assert decide(client_for(expert), project, "group_resolve", target).status_code == 200
    assert statuses(members) == ["pending", "rejected"]


@pytest.mark.parametrize("keep", ["outsider", "999999999"])
def test_resolve_keeping_a_sample_outside_the_group_is_400(keep, project, expert, client_for):
    members = add_samples(project, 2)
    stranger = add_sample(project)
    target = group(project, members)
    keep_id = stranger.pk if keep == "outsider" else keep
    response = decide(client_for(expert), project, "group_resolve", target, keep=keep_id)
    assert response.status_code == 400
    assert "The sample to keep must be a member of the group." in body(response)
    assert statuses(members + [stranger]) == ["pending"] * 3
    assert DuplicateGroup.objects.get(pk=target.pk).status == "open"


@pytest.mark.parametrize("second", ["group_resolve", "group_not_duplicates", "group_split"])
def test_a_second_decision_on_a_group_is_409_and_names_who_decided(second, project, expert, lead, client_for):
    members = add_samples(project, 3)
    target = group(project, members)
    decide(client_for(lead), project, "group_resolve", target, keep=members[0].pk)
    response = decide(client_for(expert), project, second, target, keep=members[1].pk, sample=members[2].pk)
    assert response.status_code == 409
    assert "lee-lead already marked this group" in body(response)
    assert statuses(members) == ["pending", "rejected", "rejected"]
    target.refresh_from_db()
    assert (target.status, target.resolved_by, target.size) == ("resolved", lead, 3)


def test_not_duplicates_changes_no_sample(project, expert, client_for):
    members = add_samples(project, 3)
    target = group(project, members)
    response = decide(client_for(expert), project, "group_not_duplicates", target)
    assert response.status_code == 200
    assert "Marked as not duplicates; no sample changed." in body(response)
    assert (
        list(Sample.objects.filter(pk__in=[m.pk for m in members]).values_list("status", "revision"))
        == [("pending", 0)] * 3
    )
    target.refresh_from_db()
    assert (target.status, target.resolved_by) == ("not_duplicates", expert)
    assert AuditLog.objects.get().action == "duplicate_group.not_duplicates"


def test_split_removes_the_member_and_moves_the_representative_to_the_closest(project, expert, client_for):
    keeper, far, close = add_samples(project, 3)
    target = group(project, [keeper, far, close], similarities=[1.0, 0.91, 0.97])
    response = decide(client_for(expert), project, "group_split", target, sample=keeper.pk)
    assert response.status_code == 200
    assert f"Split sample {keeper.pk} off the group." in body(response)
    target.refresh_from_db()
    assert members_of(target) == {far.pk, close.pk}
    assert (target.size, target.representative_id, target.status) == (2, close.pk, "open")
    assert statuses([keeper, far, close]) == ["pending"] * 3
    assert AuditLog.objects.get().details == {"split_off": keeper.pk, "size": 2}


def test_splitting_a_non_representative_keeps_the_representative(project, expert, client_for):
    keeper, other, third = add_samples(project, 3)
    target = group(project, [keeper, other, third])
    decide(client_for(expert), project, "group_split", target, sample=third.pk)
    target.refresh_from_db()
    assert (target.size, target.representative_id) == (2, keeper.pk)


def test_splitting_a_pair_leaves_no_duplicates(project, expert, client_for):
    first, second = add_samples(project, 2)
    target = group(project, [first, second])
    assert decide(client_for(expert), project, "group_split", target, sample=second.pk).status_code == 200
    target.refresh_from_db()
    assert (target.status, target.size, target.resolved_by) == ("not_duplicates", 1, expert)
    assert members_of(target) == {first.pk}


@pytest.mark.parametrize(
    "data", [{}, {"sample": "abc"}, {"sample": "999999999"}], ids=["no-sample", "not-a-number", "not-a-member"]
)
def test_split_without_a_member_is_400(data, project, expert, client_for):
    members = add_samples(project, 3)
    target = group(project, members)
    response = decide(client_for(expert), project, "group_split", target, **data)
    assert response.status_code == 400
    target.refresh_from_db()
    assert (target.size, target.status) == (3, "open")
    assert members_of(target) == {m.pk for m in members}


def test_an_expert_may_not_resolve_a_group_with_more_than_a_page_to_reject(project, expert, lead, client_for):
    members = add_samples(project, 52)
    target = group(project, members)
    assert decide(client_for(expert), project, "group_resolve", target).status_code == 403
    assert statuses(members) == ["pending"] * 52
    assert DuplicateGroup.objects.get(pk=target.pk).status == "open"
    assert decide(client_for(lead), project, "group_resolve", target).status_code == 200
    assert statuses(members) == ["pending"] + ["rejected"] * 51


def test_an_expert_may_resolve_a_group_with_a_page_to_reject(project, expert, client_for):
    members = add_samples(project, 51)
    target = group(project, members)
    assert decide(client_for(expert), project, "group_resolve", target).status_code == 200
    assert statuses(members) == ["pending"] + ["rejected"] * 50


def test_a_plain_post_redirects_to_the_similarity_view(project, expert, client_for):
    members = add_samples(project, 2)
    target = group(project, members)
    response = decide(client_for(expert), project, "group_resolve", target, htmx=False, keep=members[1].pk)
    assert response.status_code == 302
    assert response["Location"] == reverse("similarity_view", args=[project.slug])
    assert statuses(members) == ["rejected", "pending"]


@pytest.mark.parametrize("forged", ["²:1", "1:²", "-5:1", "2:-5", "1" * 5000 + ":1", "2:" + "9" * 30, "2:3:4"])
def test_a_forged_groups_cursor_shows_the_first_page_like_any_other_bad_cursor(forged, project, expert, client_for):
    groups = [group(project, add_samples(project, 2)) for _ in range(3)]
    client = client_for(expert)
    bad = client.get(view_url(project, after="not-a-cursor"))
    response = client.get(view_url(project, after=forged))
    assert response.status_code == bad.status_code == 200
    assert shown_groups(response) == shown_groups(bad) == [g.pk for g in groups]


# --- clusters -----------------------------------------------------------------


def test_clusters_show_low_novelty_first_then_the_densest(project, expert, client_for):
    loose = cluster(project, 1, add_samples(project, 2), density=0.5)
    low_loose = cluster(project, 2, add_samples(project, 2), density=0.7, low=True)
    tight = cluster(project, 3, add_samples(project, 2), density=0.95)
    low_tight = cluster(project, 4, add_samples(project, 2), density=0.9, low=True)
    client = client_for(expert)
    assert shown_clusters(client.get(view_url(project, "clusters"))) == [low_tight.pk, low_loose.pk, tight.pk, loose.pk]
    assert shown_clusters(client.get(view_url(project, "clusters", low=1))) == [low_tight.pk, low_loose.pk]


def test_a_cluster_card_previews_its_members(project, expert, client_for):
    members = add_samples(project, 5)
    shown = cluster(project, 1, members, label="fractions halves")
    text = body(client_for(expert).get(view_url(project, "clusters")))
    assert "fractions halves" in text
    card = text[text.index(f'id="cluster-{shown.pk}"') :]
    previewed = [int(pk) for pk in re.findall(r'/samples/(\d+)/">#', card)]
    assert previewed == [m.pk for m in members[:3]]


def test_a_clusters_page_number_padded_past_4300_digits_is_that_page(project, expert, client_for):
    cluster(project, 1, add_samples(project, 2))
    response = client_for(expert).get(view_url(project, "clusters", page="0" * 4300 + "2"))
    assert response.status_code == 200
    assert 'page=1">← previous</a>' in body(response)


# --- map ----------------------------------------------------------------------


def test_the_map_tab_embeds_the_points_and_says_how_many_of_how_many(project, expert, client_for):
    samples = add_samples(project, 3)
    EmbeddingMap.objects.create(
        project=project, points=[[s.pk, 0.1 * i, 0.5] for i, s in enumerate(samples)], embedded_total=1200
    )
    response = client_for(expert).get(view_url(project, "map"))
    text = body(response)
    assert "Showing 3 of 1,200 embedded samples" in text
    points = {point["id"]: point for point in map_points(text)}
    assert set(points) == {s.pk for s in samples}
    assert (points[samples[1].pk]["x"], points[samples[1].pk]["y"]) == (0.1, 0.5)
    # No sample text up front: a point's text is fetched when it is hovered.
    assert samples[0].output not in text


def test_the_map_tab_without_a_map_says_so(project, expert, client_for):
    assert 'data-testid="map-empty"' in body(client_for(expert).get(view_url(project, "map")))


# --- cost ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, GROUPS_PER_PAGE])
def test_the_groups_tab_costs_a_fixed_number_of_queries(
    count, project, expert, client_for, django_assert_max_num_queries
):
    for _ in range(count):
        group(project, add_samples(project, 4))
    client = client_for(expert)
    # One more for an expert: the items of open audits, hidden from them (reviews/selectors/blinding.py).
    with django_assert_max_num_queries(13):
        response = client.get(view_url(project))
    assert len(shown_groups(response)) == count


@pytest.mark.parametrize("count", [2, 12])
def test_the_clusters_tab_costs_a_fixed_number_of_queries(
    count, project, expert, client_for, django_assert_max_num_queries
):
    for number in range(count):
        cluster(project, number + 1, add_samples(project, 4))
    client = client_for(expert)
    # One more for an expert: the items of open audits, hidden from them (reviews/selectors/blinding.py).
    with django_assert_max_num_queries(13):
        response = client.get(view_url(project, "clusters"))
    assert len(shown_clusters(response)) == count


# --- escaping -----------------------------------------------------------------


def test_sample_text_in_groups_is_escaped(project, expert, client_for):
    members = add_samples(project, 2, texts=[(XSS, XSS), (f"{XSS} again", f"{XSS} twice")], label=XSS)
    group(project, members)
    text = body(client_for(expert).get(view_url(project)))
    assert XSS_ESCAPED in text
    assert "<script>alert(1)" not in text


def test_sample_text_and_labels_in_clusters_are_escaped(project, expert, client_for):
    members = add_samples(project, 2, texts=[(XSS, XSS), (XSS, XSS)])
    cluster(project, 1, members, label=XSS)
    text = body(client_for(expert).get(view_url(project, "clusters")))
    assert text.count(XSS_ESCAPED) >= 3
    assert "<script>alert(1)" not in text


def test_sample_text_in_the_map_cannot_close_its_script_tag(project, expert, client_for):
    breakout = "</script><script>alert(3)</script>"
    samples = add_samples(project, 3, texts=[(breakout, breakout), (XSS, XSS), ("plain", "plain")])
    EmbeddingMap.objects.create(project=project, points=[[s.pk, 0.5, 0.5] for s in samples], embedded_total=3)
    text = body(client_for(expert).get(view_url(project, "map")))
    assert "</script><script>alert(3)" not in text
    assert "<script>alert(1)" not in text
    assert {point["id"] for point in map_points(text)} == {s.pk for s in samples}
