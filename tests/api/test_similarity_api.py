"""GET /projects/{slug}/duplicate-groups, /variant-families and /clusters: the similarity page's
groups, families and clusters, paged by cursor, with an open audit's items kept blind."""

from __future__ import annotations

import pytest

from reviews.api.similarity import LAST_CLUSTER_PAGE
from reviews.models import Audit, AuditItem, DuplicateGroup, DuplicateGroupMember
from reviews.selectors.similarity_view import CLUSTERS_PER_PAGE, GROUPS_PER_PAGE
from synthreview.projects.api.pagination import cursor_encode
from synthreview.projects.api.params import MAX_ID
from synthreview.projects.models import Membership
from tests.reviews.review_helpers import add_sample, add_samples, cluster, generator, group

pytestmark = pytest.mark.django_db

GROUPS = "projects/math/duplicate-groups"
FAMILIES = "projects/math/variant-families"
CLUSTERS = "projects/math/clusters"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def walk(client, path: str, **params) -> list[list[int]]:
    """Every page's ids, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        response = client.get(path, {**params, **({"cursor": cursor} if cursor else {})})
        pages.append(ids(response))
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 50, "the cursor never ends"


def hold(project, *samples) -> Audit:
    """An open audit holding these samples: experts may not see their lineage."""
    audit = Audit.objects.create(project=project, name="spot check", scope="project", sample_size=1, seed=3)
    for position, sample in enumerate(samples, start=1):
        AuditItem.objects.create(audit=audit, sample=sample, position=position)
    return audit


# --- duplicate groups ---------------------------------------------------------------------------


def test_groups_come_largest_first_with_their_members(project, expert, api_for):
    gen = generator(project, "gpt-tutor")
    small = group(project, add_samples(project, 2, gen=gen))
    keeper, near, nearer = add_samples(
        project, 3, gen=gen, texts=[("What is 2+2?", "4"), ("What is 2 + 2?", "four"), ("what is 2+2", "4.")]
    )
    large = group(project, [keeper, near, nearer], similarities=[1.0, 0.93, 0.97])
    response = api_for(expert).get(GROUPS)
    assert ids(response) == [large.pk, small.pk]
    first = response.json()["items"][0]
    assert (first["kind"], first["status"], first["size"]) == ("near", "open", 3)
    assert first["min_similarity"] == 0.93
    assert (first["representative_id"], first["representative_reason"]) == (keeper.pk, "earliest sample")
    # The keeper first, then the closest to it.
    assert [m["sample_id"] for m in first["members"]] == [keeper.pk, nearer.pk, near.pk]
    assert [m["similarity"] for m in first["members"]] == [1.0, 0.97, 0.93]
    assert [m["is_representative"] for m in first["members"]] == [True, False, False]
    member = first["members"][2]
    assert (member["origin"], member["generator"], member["status"], member["held"]) == (
        "synthetic",
        "gpt-tutor",
        "pending",
        False,
    )
    assert (member["input_preview"], member["output_preview"]) == ("What is 2 + 2?", "four")
    assert first["hidden_members"] == 0 and first["suggested_keep"] == []
    assert first["members_token"]


def test_a_long_text_comes_as_a_plain_preview(project, expert, api_for):
    long_text = "<b>x</b> " * 100
    group(project, add_samples(project, 2, texts=[(long_text, "short"), ("other", long_text)]))
    [card] = api_for(expert).get(GROUPS).json()["items"]
    preview = card["members"][0]["input_preview"]
    assert len(preview) == 280 and preview.endswith("…")
    assert preview.startswith("<b>x</b> <b>x</b>")  # JSON strings, no HTML escaping
    assert card["members"][0]["output_preview"] == "short"


def test_a_group_of_many_shows_six_members_and_counts_the_rest(project, expert, api_for):
    group(project, add_samples(project, 9))
    [card] = api_for(expert).get(GROUPS).json()["items"]
    assert (len(card["members"]), card["hidden_members"]) == (6, 3)


def test_groups_page_by_cursor_across_the_selectors_pages(project, expert, api_for):
    sizes = [2, 3, 2, 4, 2, 2, 5, 2, 3, 2, 2, 6, 3]
    assert len(sizes) > GROUPS_PER_PAGE
    groups = [group(project, add_samples(project, size)) for size in sizes]
    expected = [g.pk for g in sorted(groups, key=lambda g: (-g.size, g.pk))]
    client = api_for(expert)
    pages = walk(client, GROUPS, limit=5)
    assert [len(page) for page in pages] == [5, 5, 3]
    assert sum(pages, []) == expected
    # More than one of the page's pages in one call.
    assert walk(client, GROUPS, limit=GROUPS_PER_PAGE + 2) == [expected[: GROUPS_PER_PAGE + 2], expected[10:]]
    assert walk(client, GROUPS, limit=len(sizes)) == [expected]


def test_groups_filter_by_status_and_kind(project, expert, api_for):
    open_near = group(project, add_samples(project, 2))
    decided = group(project, add_samples(project, 3))
    DuplicateGroup.objects.filter(pk=decided.pk).update(status="not_duplicates")
    exact = group(project, add_samples(project, 4), kind="exact")
    client = api_for(expert)
    assert ids(client.get(GROUPS)) == [exact.pk, open_near.pk]
    assert ids(client.get(GROUPS, {"status": "not_duplicates"})) == [decided.pk]
    assert ids(client.get(GROUPS, {"status": "all"})) == [exact.pk, decided.pk, open_near.pk]
    assert ids(client.get(GROUPS, {"status": "all", "kind": "near"})) == [decided.pk, open_near.pk]
    assert ids(client.get(GROUPS, {"kind": "exact"})) == [exact.pk]
    assert ids(client.get(GROUPS, {"status": "resolved"})) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": "x" * 500}, "status"),
        ({"kind": "nearish"}, "kind"),
        ({"limit": 0}, "limit"),
        ({"limit": 10**30}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": cursor_encode([2**70, 1])}, "cursor"),
        ({"cursor": cursor_encode([3])}, "cursor"),
        ({"cursor": "A" * 5000}, "cursor"),
    ],
)
def test_bad_group_queries_are_422_naming_the_field(params, field, project, expert, api_for):
    group(project, add_samples(project, 2))
    response = api_for(expert).get(GROUPS, params)
    assert response.status_code == 422, response.content
    assert (response.json()["code"], response.json()["field"]) == ("invalid", field)


def test_the_largest_cursor_values_are_read_not_refused(project, expert, api_for):
    made = group(project, add_samples(project, 2))
    cluster(project, 1, add_samples(project, 2))
    client = api_for(expert)
    # After a group larger than any: every group follows.
    assert ids(client.get(GROUPS, {"cursor": cursor_encode([MAX_ID, MAX_ID])})) == [made.pk]
    # The last page a database can count past: nothing there.
    assert client.get(CLUSTERS, {"cursor": cursor_encode([LAST_CLUSTER_PAGE, 0])}).json() == {
        "items": [],
        "next_cursor": None,
    }


def test_an_expert_sees_a_held_members_text_but_not_its_lineage(project, expert, lead, api_for):
    keeper, held, free = add_samples(project, 3, gen=generator(project, "gpt-tutor"))
    target = group(project, [keeper, held, free])
    hold(project, held)
    as_expert = {m["sample_id"]: m for m in api_for(expert).get(GROUPS).json()["items"][0]["members"]}
    assert set(as_expert) == {keeper.pk, held.pk, free.pk}
    assert as_expert[held.pk]["held"] is True
    assert [as_expert[held.pk][key] for key in ("origin", "generator", "template", "run", "status")] == [None] * 5
    assert as_expert[held.pk]["output_preview"] == held.output
    assert as_expert[held.pk]["similarity"] == 0.99
    assert (as_expert[free.pk]["held"], as_expert[free.pk]["generator"]) == (False, "gpt-tutor")
    # A lead runs the audit and sees everything.
    as_lead = {m["sample_id"]: m for m in api_for(lead).get(GROUPS).json()["items"][0]["members"]}
    assert (as_lead[held.pk]["held"], as_lead[held.pk]["origin"], as_lead[held.pk]["generator"]) == (
        False,
        "synthetic",
        "gpt-tutor",
    )
    assert target.pk == api_for(lead).get(GROUPS).json()["items"][0]["id"]


def test_a_held_keepers_reason_is_left_out_for_an_expert(project, expert, lead, api_for):
    keeper, other = add_samples(project, 2)
    group(project, [keeper, other])
    hold(project, keeper)
    assert api_for(expert).get(GROUPS).json()["items"][0]["representative_reason"] is None
    assert api_for(lead).get(GROUPS).json()["items"][0]["representative_reason"] == "earliest sample"


def test_a_closed_audit_no_longer_blinds(project, expert, api_for):
    keeper, held = add_samples(project, 2)
    group(project, [keeper, held])
    Audit.objects.filter(pk=hold(project, held).pk).update(status="closed")
    members = api_for(expert).get(GROUPS).json()["items"][0]["members"]
    assert [m["held"] for m in members] == [False, False]


def test_groups_access(project, other_project, expert, outsider, api_for):
    mine = group(project, add_samples(project, 2))
    theirs = group(other_project, add_samples(other_project, 2))
    assert api_for(None).get(GROUPS).status_code == 401
    assert api_for(outsider).get(GROUPS).status_code == 404
    assert api_for(expert).get("projects/nowhere/duplicate-groups").status_code == 404
    assert ids(api_for(expert).get(GROUPS)) == [mine.pk]
    assert ids(api_for(outsider).get("projects/other/duplicate-groups")) == [theirs.pk]
    # A token limited to another project of the same expert cannot reach this one.
    Membership.objects.create(user=expert, project=other_project, role="expert")
    assert api_for(expert, project=other_project).get(GROUPS).status_code == 404


# --- variant families ---------------------------------------------------------------------------


def family(project, size: int) -> tuple[DuplicateGroup, list]:
    """A family whose keeper (the first) was picked first, then the others from the last made back:
    the farthest-point order the similarity build writes as diversity ranks."""
    members = add_samples(project, size, texts=[(f"What is {n} + 1?", f"{n + 1}") for n in range(size)])
    created = group(project, members, kind="variant")
    for rank, sample in enumerate([members[0], *reversed(members[1:])]):
        DuplicateGroupMember.objects.filter(group=created, sample=sample).update(diversity_rank=rank)
    return created, members


def test_variant_families_list_only_families_with_the_suggested_keepers(project, expert, api_for):
    created, members = family(project, 7)
    group(project, add_samples(project, 9))  # a near-duplicate group: no family
    response = api_for(expert).get(FAMILIES)
    assert ids(response) == [created.pk]
    [card] = response.json()["items"]
    assert card["kind"] == "variant"
    # variant_keep_max is 3: the three most diverse, here the keeper and the last two made.
    assert card["suggested_keep"] == sorted([members[0].pk, members[5].pk, members[6].pk])
    # The keeper first, then by diversity rank: six of seven shown.
    assert [m["sample_id"] for m in card["members"]] == [members[0].pk] + [s.pk for s in reversed(members[2:])]
    assert card["hidden_members"] == 1
    assert card["members"][1]["output_preview"] == "7"


def test_variant_families_filter_by_status_and_refuse_a_bad_one(project, expert, api_for):
    trimmed, _ = family(project, 3)
    DuplicateGroup.objects.filter(pk=trimmed.pk).update(status="trimmed")
    client = api_for(expert)
    assert ids(client.get(FAMILIES)) == []
    assert ids(client.get(FAMILIES, {"status": "trimmed"})) == [trimmed.pk]
    assert ids(client.get(FAMILIES, {"status": "all"})) == [trimmed.pk]
    refused = client.get(FAMILIES, {"status": "gone"})
    assert (refused.status_code, refused.json()["field"]) == (422, "status")
    assert client.get(FAMILIES, {"limit": 10**20}).json()["field"] == "limit"


def test_a_project_without_families_answers_an_empty_page(project, expert, api_for):
    group(project, add_samples(project, 2))
    assert api_for(expert).get(FAMILIES).json() == {"items": [], "next_cursor": None}


def test_variant_families_access(project, other_project, expert, outsider, api_for):
    family(other_project, 3)
    assert api_for(None).get(FAMILIES).status_code == 401
    assert api_for(outsider).get(FAMILIES).status_code == 404
    assert ids(api_for(expert).get(FAMILIES)) == []


# --- clusters ---------------------------------------------------------------------------------


def test_clusters_come_low_novelty_first_then_densest_with_their_figures(project, expert, api_for):
    loose = cluster(project, 1, add_samples(project, 2), density=0.3)
    tight = cluster(project, 2, add_samples(project, 2), density=0.9, label="sums")
    members = add_samples(project, 5, texts=[(f"q{n}", f"a{n}") for n in range(5)])
    low = cluster(project, 3, members, density=0.2, low=True)
    response = api_for(expert).get(CLUSTERS)
    assert ids(response) == [low.pk, tight.pk, loose.pk]
    first, second = response.json()["items"][:2]
    assert (first["number"], first["size"], first["is_low_novelty"], first["status"]) == (3, 5, True, "open")
    assert (first["density"], first["synthetic_share"], first["real_anchor_distance"]) == (0.2, 1.0, None)
    assert first["generator_mix"] == {"gen-a": 5}
    # The first three members by id.
    assert [m["sample_id"] for m in first["first_members"]] == [s.pk for s in members[:3]]
    assert [m["output_preview"] for m in first["first_members"]] == ["a0", "a1", "a2"]
    assert (second["label"], second["is_low_novelty"]) == ("sums", False)


def test_clusters_show_their_distance_to_real(project, expert, api_for):
    made = cluster(project, 1, add_samples(project, 2))
    type(made).objects.filter(pk=made.pk).update(real_anchor_distance=0.42, synthetic_share=0.5)
    [item] = api_for(expert).get(CLUSTERS).json()["items"]
    assert (item["real_anchor_distance"], item["synthetic_share"]) == (0.42, 0.5)


def test_clusters_filter_to_low_novelty(project, expert, api_for):
    cluster(project, 1, add_samples(project, 2), density=0.9)
    low = cluster(project, 2, add_samples(project, 2), low=True)
    assert ids(api_for(expert).get(CLUSTERS, {"low_novelty": "true"})) == [low.pk]
    refused = api_for(expert).get(CLUSTERS, {"low_novelty": "perhaps"})
    assert (refused.status_code, refused.json()["field"]) == (422, "low_novelty")


def test_clusters_page_by_cursor_across_the_selectors_pages(project, expert, api_for):
    count = CLUSTERS_PER_PAGE + 5
    made = [cluster(project, n + 1, [add_sample(project)], density=n / 100) for n in range(count)]
    expected = [c.pk for c in sorted(made, key=lambda c: (-c.density, c.pk))]
    client = api_for(expert)
    pages = walk(client, CLUSTERS, limit=5)
    assert [len(page) for page in pages] == [5, 5, 5, 2]
    assert sum(pages, []) == expected
    assert walk(client, CLUSTERS, limit=CLUSTERS_PER_PAGE) == [expected[:CLUSTERS_PER_PAGE], expected[12:]]
    assert walk(client, CLUSTERS, limit=count) == [expected]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 10**30}, "limit"),
        ({"limit": -1}, "limit"),
        ({"cursor": cursor_encode([10**18, 0])}, "cursor"),
        ({"cursor": cursor_encode([0, 0])}, "cursor"),
        ({"cursor": cursor_encode([1, CLUSTERS_PER_PAGE])}, "cursor"),
        ({"cursor": cursor_encode([2**64, 0])}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
    ],
)
def test_bad_cluster_queries_are_422_naming_the_field(params, field, project, expert, api_for):
    cluster(project, 1, add_samples(project, 2))
    response = api_for(expert).get(CLUSTERS, params)
    assert response.status_code == 422, response.content
    assert response.json()["field"] == field


def test_a_held_sample_is_left_out_of_a_clusters_members_for_an_expert(project, expert, lead, api_for):
    members = add_samples(project, 4)
    cluster(project, 1, members)
    hold(project, members[1])
    shown = [m["sample_id"] for m in api_for(expert).get(CLUSTERS).json()["items"][0]["first_members"]]
    assert shown == [members[0].pk, members[2].pk]
    shown = [m["sample_id"] for m in api_for(lead).get(CLUSTERS).json()["items"][0]["first_members"]]
    assert shown == [s.pk for s in members[:3]]


def test_clusters_access(project, other_project, expert, outsider, api_for):
    mine = cluster(project, 1, add_samples(project, 2))
    cluster(other_project, 1, add_samples(other_project, 2))
    assert api_for(None).get(CLUSTERS).status_code == 401
    assert api_for(outsider).get(CLUSTERS).status_code == 404
    assert ids(api_for(expert).get(CLUSTERS)) == [mine.pk]


def test_the_lists_cost_a_bounded_number_of_queries(project, expert, api_for, django_assert_max_num_queries):
    for n in range(GROUPS_PER_PAGE + 2):
        group(project, add_samples(project, 3))
        cluster(project, n + 1, add_samples(project, 3))
    client = api_for(expert)
    # The token, the membership and the held items (3), then 4 for each of the selector's pages: two here.
    with django_assert_max_num_queries(12):
        assert len(ids(client.get(GROUPS, {"limit": GROUPS_PER_PAGE + 2}))) == GROUPS_PER_PAGE + 2
    # One page of clusters: the clusters and their first members in one query.
    with django_assert_max_num_queries(8):
        assert len(ids(client.get(CLUSTERS))) == GROUPS_PER_PAGE + 2
