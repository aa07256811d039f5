"""Templated variants and tight groups, as a reviewer meets them on the similarity page.

The vectors are ours (as the sentence model would embed these texts: nearly alike),
so the build and the page run for real without a model.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from django.urls import reverse

from generation.models import Sample
from reviews.models import DuplicateGroup, DuplicateGroupMember, SampleEmbedding
from reviews.services.duplicate_groups import duplicate_groups_rebuild
from reviews.services.embeddings import embedding_key
from reviews.services.similarity_build import similarity_build
from synthreview.projects.models import AuditLog
from tests.reviews.review_helpers import HTMX, XSS, XSS_ESCAPED, add_samples, body, statuses

pytestmark = pytest.mark.django_db
DIMENSION = 16


def embed(project, samples: list[Sample], vectors: list[np.ndarray]) -> None:
    model_name, text_kind = embedding_key(project)
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=sample,
                project=project,
                model_name=model_name,
                text_kind=text_kind,
                vector=(vector / np.linalg.norm(vector)).astype(np.float32).tobytes(),
            )
            for sample, vector in zip(samples, vectors)
        ]
    )


def direction(angle_degrees: float, axis: int = 0) -> np.ndarray:
    """A unit vector at this angle from axis `axis`, turning towards axis + 1."""
    vector = np.zeros(DIMENSION)
    radians = math.radians(angle_degrees)
    vector[axis], vector[axis + 1] = math.cos(radians), math.sin(radians)
    return vector


def page(client, project, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"tab": "groups", **params}.items())
    return body(client.get(f"{reverse('similarity_view', args=[project.slug])}?{query}"))


def cards(html: str) -> list[dict]:
    """Each group card on the page: its id, its heading and the samples it shows."""
    found = []
    for chunk in html.split('<section class="card group')[1:]:
        chunk = chunk.split("</section>")[0]
        found.append(
            {
                "id": int(re.search(r'id="group-(\d+)"', chunk).group(1)),
                "heading": re.sub(r"<[^>]+>", "", re.search(r"<h2>(.*?)</h2>", chunk, re.S).group(1)),
                "samples": {int(pk) for pk in re.findall(r'data-sample="(\d+)"', chunk)},
                "checked": {int(pk) for pk in re.findall(r'name="keep" value="(\d+)" checked', chunk)},
                "token": (re.search(r'name="members" value="([^"]*)"', chunk) or [None, ""])[1],
                "html": chunk,
            }
        )
    return found


def near_cards(html: str) -> list[dict]:
    return [card for card in cards(html) if card["heading"].startswith("Near-duplicate")]


def variant_cards(html: str) -> list[dict]:
    return [card for card in cards(html) if card["heading"].startswith("Templated variants")]


# --- variants are not near-duplicates ------------------------------------------------


def demo_project(project):
    """The demo's two cases, each a pair the model embeds at about 0.99, and one true
    near-duplicate pair (the same problem reworded) beside them."""
    sums = add_samples(
        project,
        2,
        texts=[("What is 36 + 9?", "36 + 9 = 45\nAnswer: 45"), ("What is 32 + 17?", "32 + 17 = 49\nAnswer: 49")],
    )
    bruno = add_samples(
        project,
        2,
        texts=[
            (
                "Bruno has 6 apples. At the market, Bruno gets 2 more apples. How many apples does Bruno have now?",
                "Bruno starts with 6 apples and gets 2 more.\n6 + 2 = 8\nAnswer: 8",
            ),
            (
                "Bruno has 2 apples. At the market, Bruno gets 6 more apples. How many apples does Bruno have now?",
                "Bruno starts with 2 apples and gets 6 more.\n2 + 6 = 8\nAnswer: 8",
            ),
        ],
    )
    reworded = add_samples(
        project,
        2,
        texts=[
            ("Chen has seven pears and buys three more. How many pears does Chen have?", "Ten pears."),
            ("Chen owns seven pears and buys three more. How many pears does Chen own?", "Ten pears."),
        ],
    )
    embed(
        project,
        sums + bruno + reworded,
        [direction(0, 0), direction(6, 0), direction(0, 4), direction(6, 4), direction(0, 8), direction(6, 8)],
    )
    similarity_build(project_id=project.pk)
    return sums, bruno, reworded


def test_sums_with_other_numbers_are_a_variant_family_not_a_near_duplicate_group(project, expert, client_for):
    sums, bruno, reworded = demo_project(project)
    html = page(client_for(expert), project)
    assert [card["samples"] for card in near_cards(html)] == [{s.pk for s in reworded}]
    assert sorted(sorted(card["samples"]) for card in variant_cards(html)) == sorted(
        [sorted(s.pk for s in sums), sorted(s.pk for s in bruno)]
    )


def test_the_same_numbers_in_another_order_are_variants_too(project, expert, client_for):
    _, bruno, _ = demo_project(project)
    html = page(client_for(expert), project)
    family = next(card for card in variant_cards(html) if card["samples"] == {s.pk for s in bruno})
    # The card says what each member fills the skeleton with: the prompt's numbers, in another order,
    # and the answer its output gives.
    assert "numbers 6, 2 · names Bruno · answer 8" in family["html"]
    assert "numbers 2, 6 · names Bruno · answer 8" in family["html"]
    assert "One skeleton with different numbers:" in family["html"]


def test_with_the_variant_rule_off_the_embedding_alone_decides(project, expert, client_for):
    project.variant_rule = "off"
    project.save(update_fields=["variant_rule"])
    sums, _, _ = demo_project(project)
    html = page(client_for(expert), project)
    assert variant_cards(html) == []
    assert {s.pk for s in sums} in [card["samples"] for card in near_cards(html)]


# --- keeping the most diverse members of a family ------------------------------------


def family_of_five(project):
    """Five sums, all within 20° of each other (cosine ≥ 0.94): one family. From the first
    (0°), the farthest is the last (20°), and then the one at 10°, halfway."""
    members = add_samples(
        project,
        5,
        texts=[
            (f"What is {a} + {b}?", f"{a} + {b} = {a + b}") for a, b in [(3, 4), (5, 9), (12, 7), (20, 22), (31, 8)]
        ],
    )
    embed(project, members, [direction(angle) for angle in (0, 5, 10, 15, 20)])
    similarity_build(project_id=project.pk)
    return members


def test_the_family_card_suggests_the_most_diverse_and_the_keep_action_keeps_exactly_those(project, expert, client_for):
    members = family_of_five(project)
    client = client_for(expert)
    [card] = variant_cards(page(client, project))
    assert card["samples"] == {s.pk for s in members}
    # variant_keep_max is 3 by default: the first, the farthest from it, then the one halfway.
    assert card["checked"] == {members[0].pk, members[4].pk, members[2].pk}
    response = client.post(
        reverse("variant_family_trim", args=[project.slug, card["id"]]),
        {"members": card["token"], "keep": sorted(card["checked"])},
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "Kept 3 samples; rejected the other 2 as variants." in body(response)
    assert statuses(members) == ["pending", "rejected", "pending", "rejected", "pending"]
    family = DuplicateGroup.objects.get(pk=card["id"])
    assert (family.kind, family.status, family.resolved_by) == ("variant", "trimmed", expert)
    entry = AuditLog.objects.get(action="variant_family.trim")
    assert entry.details["kept"] == sorted([members[0].pk, members[2].pk, members[4].pk])
    assert entry.details["rejected"] == [members[1].pk, members[3].pk]
    assert entry.details["suggested"] == entry.details["kept"]


def test_the_reviewer_may_keep_other_members_than_suggested(project, lead, client_for):
    members = family_of_five(project)
    client = client_for(lead)
    [card] = variant_cards(page(client, project))
    response = client.post(
        reverse("variant_family_trim", args=[project.slug, card["id"]]),
        {"members": card["token"], "keep": [members[1].pk]},
    )
    assert response.status_code == 302
    assert statuses(members) == ["rejected", "pending", "rejected", "rejected", "rejected"]
    assert "Kept 1 sample; rejected the other 4 as variants." in body(client.get(response["Location"]))


def test_keep_all_rejects_nothing(project, expert, client_for):
    members = family_of_five(project)
    client = client_for(expert)
    [card] = variant_cards(page(client, project))
    response = client.post(
        reverse("variant_family_trim", args=[project.slug, card["id"]]),
        {"members": card["token"], "keep_all": "1"},
        headers=HTMX,
    )
    assert "Kept 5 samples; rejected the other 0 as variants." in body(response)
    assert statuses(members) == ["pending"] * 5


def test_a_family_that_changed_since_the_card_was_shown_is_refused(project, expert, client_for):
    members = family_of_five(project)
    client = client_for(expert)
    [card] = variant_cards(page(client, project))
    newcomer = add_samples(project, 1, texts=[("What is 40 + 2?", "40 + 2 = 42")])[0]
    DuplicateGroupMember.objects.create(group_id=card["id"], sample=newcomer, similarity=0.95)
    response = client.post(
        reverse("variant_family_trim", args=[project.slug, card["id"]]),
        {"members": card["token"], "keep": sorted(card["checked"])},
        headers=HTMX,
    )
    assert response.status_code == 409
    assert "1 sample joined this family since you opened it; look again." in body(response)
    assert statuses(members + [newcomer]) == ["pending"] * 6
    assert DuplicateGroup.objects.get(pk=card["id"]).status == "open"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"keep": ["abc"]}, "The members to keep must be sample numbers."),
        ({"keep": []}, "Check at least one member to keep."),
        ({"keep": ["999999999"]}, "Every sample to keep must be a member of the family."),
        ({"keep": ["1"], "members": ""}, "did not say which members"),
    ],
)
def test_bad_keep_forms_are_400_and_change_nothing(data, message, project, expert, client_for):
    members = family_of_five(project)
    client = client_for(expert)
    [card] = variant_cards(page(client, project))
    response = client.post(
        reverse("variant_family_trim", args=[project.slug, card["id"]]),
        {"members": card["token"], **data},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert message in body(response)
    assert statuses(members) == ["pending"] * 5


def test_a_near_duplicate_group_cannot_be_trimmed(project, expert, client_for):
    _, _, reworded = demo_project(project)
    client = client_for(expert)
    [card] = near_cards(page(client, project))
    response = client.post(
        reverse("variant_family_trim", args=[project.slug, card["id"]]),
        {"members": card["token"], "keep": [reworded[0].pk]},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert statuses(reworded) == ["pending", "pending"]


def test_who_may_trim_a_family(project, expert, outsider, client_for):
    family_of_five(project)
    family = DuplicateGroup.objects.get(project=project, kind="variant")
    url = reverse("variant_family_trim", args=[project.slug, family.pk])
    assert client_for(None).post(url, {"keep": ["1"]}).status_code == 302  # to the login page
    assert client_for(outsider).post(url, {"keep": ["1"]}).status_code == 404
    assert client_for(expert).get(url).status_code == 405


def test_member_text_on_a_family_card_is_escaped(project, expert, client_for):
    members = add_samples(project, 2, texts=[(f"{XSS} costs 3", "3"), (f"{XSS} costs 4", "4")])
    embed(project, members, [direction(0), direction(5)])
    similarity_build(project_id=project.pk)
    html = page(client_for(expert), project)
    [card] = variant_cards(html)
    assert XSS not in html and XSS_ESCAPED in card["html"]


# --- regrouping under the new rule, without embedding again ------------------------------


def test_a_rebuild_turns_near_groups_of_variants_into_families_and_keeps_decisions(
    project, expert, client_for, monkeypatch
):
    project.variant_rule = "off"
    project.save(update_fields=["variant_rule"])
    sums, bruno, reworded = demo_project(project)
    old = {
        frozenset(DuplicateGroupMember.objects.filter(group=g).values_list("sample_id", flat=True)): g
        for g in DuplicateGroup.objects.filter(project=project, kind="near")
    }
    decided = old[frozenset(s.pk for s in bruno)]
    DuplicateGroup.objects.filter(pk=decided.pk).update(status="not_duplicates", resolved_by=expert)
    project.variant_rule = "slots"
    project.save(update_fields=["variant_rule"])

    def no_model(*args, **kwargs):
        raise AssertionError("regrouping must not embed")

    monkeypatch.setattr("reviews.similarity.embedder.encode", no_model)
    embedded = SampleEmbedding.objects.count()
    duplicate_groups_rebuild(project_id=project.pk)
    assert SampleEmbedding.objects.count() == embedded

    html = page(client_for(expert), project, status="")
    by_id = {card["id"]: card for card in cards(html)}
    # The same rows, now families: the open one still open, the decided one still decided.
    open_family = by_id[old[frozenset(s.pk for s in sums)].pk]
    assert open_family["heading"].startswith("Templated variants") and "Open" in open_family["html"]
    decided_family = by_id[decided.pk]
    assert decided_family["heading"].startswith("Templated variants")
    assert "Not duplicates" in decided_family["html"]
    assert by_id[old[frozenset(s.pk for s in reworded)].pk]["heading"].startswith("Near-duplicate")


# --- groups that keep every member ------------------------------------------------------


def test_every_sample_of_a_chain_ends_in_a_group(project, expert, client_for):
    """Six samples along an arc, 18° apart: neighbours at 0.951, two apart at 0.809. Every
    sample has a partner over 0.90; the old rule kept the earliest and its neighbour only."""
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    chain = add_samples(
        project, 6, texts=[(f"Describe the {word} procedure.", f"The {word} procedure.") for word in words]
    )
    embed(project, chain, [direction(18 * i) for i in range(6)])
    similarity_build(project_id=project.pk)
    html = page(client_for(expert), project)
    grouped = [card["samples"] for card in near_cards(html)]
    assert sorted(pk for group in grouped for pk in group) == sorted(s.pk for s in chain)
    # Tight groups: no group holds two samples more than two steps (36°, 0.809) apart.
    position = {s.pk: n for n, s in enumerate(chain)}
    assert all(max(position[pk] for pk in group) - min(position[pk] for pk in group) <= 2 for group in grouped)


def test_a_member_that_joined_through_a_partner_says_so(project, expert, client_for):
    words = ["alpha", "bravo", "charlie", "delta", "echo"]
    chain = add_samples(
        project, 5, texts=[(f"Describe the {word} procedure.", f"The {word} procedure.") for word in words]
    )
    # Steps of 15°, 18°, 15°, 18°: pairs (0, 1) and (2, 3) at 0.966 are the tightest; 4 is 0.951 from 3
    # but 0.839 from 2, 0.895 on average, so it joins through 3.
    embed(project, chain, [direction(angle) for angle in (0, 15, 33, 48, 66)])
    similarity_build(project_id=project.pk)
    html = page(client_for(expert), project)
    joined = next(card for card in near_cards(html) if chain[4].pk in card["samples"])
    assert joined["samples"] == {chain[2].pk, chain[3].pk, chain[4].pk}
    assert f"joined through #{chain[3].pk} (0.951)" in joined["html"]
    assert (
        "1 member joined for a single partner above the threshold and lies further from the rest; it says through whom."
    ) in joined["html"]


def test_keep_one_from_a_near_card_shown_before_a_regroup_made_it_a_family_is_refused(project, lead, client_for):
    """The regroup keeps the row, its members and so their token: only the kind says keep-one no longer fits."""
    from tests.reviews.review_helpers import members_token

    project.variant_rule = "off"
    project.save(update_fields=["variant_rule"])
    sums, _, _ = demo_project(project)
    shown = next(
        g
        for g in DuplicateGroup.objects.filter(project=project, kind="near")
        if {m.sample_id for m in g.members.all()} == {s.pk for s in sums}
    )
    token = members_token(shown)
    project.variant_rule = "slots"
    project.save(update_fields=["variant_rule"])
    duplicate_groups_rebuild(project_id=project.pk)
    assert DuplicateGroup.objects.get(pk=shown.pk).kind == "variant"
    response = client_for(lead).post(
        reverse("group_resolve", args=[project.slug, shown.pk]), {"keep": sums[0].pk, "members": token}, headers=HTMX
    )
    assert response.status_code in (400, 409)
    assert "templated variants" in body(response)
    assert statuses(sums) == ["pending", "pending"]


def test_an_expert_cannot_trim_a_family_holding_an_open_audit_item(project, lead, expert, client_for):
    from reviews.models import Audit, AuditItem

    members = family_of_five(project)
    audit = Audit.objects.create(project=project, name="spot check", scope="project", sample_size=1, seed=3)
    AuditItem.objects.create(audit=audit, sample=members[2], position=1)
    client = client_for(expert)
    [card] = variant_cards(page(client, project))
    response = client.post(
        reverse("variant_family_trim", args=[project.slug, card["id"]]),
        {"members": card["token"], "keep": [members[0].pk]},
        headers=HTMX,
    )
    assert response.status_code == 400
    assert "item of an open audit" in body(response)
    assert statuses(members) == ["pending"] * 5
