"""The map tab: a light page whose points carry their colourings but no text, the
text of one point fetched on hover, and the UMAP layout the worker stores."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from generation.models import Sample
from reviews.models import AuditItem, EmbeddingMap, SampleSimilarity
from reviews.services.audits import audit_create
from reviews.services.embedding_map import UMAP_MIN_POINTS, embedding_map_build
from synthreview.projects.access import project_access
from tests.reviews.review_helpers import (
    HTMX,
    XSS,
    XSS_ESCAPED,
    add_samples,
    body,
    cluster,
    generator,
    group,
    map_points,
    template_version,
)

pytestmark = pytest.mark.django_db
PAGE_BUDGET = 150_000


def map_url(project, **params) -> str:
    query = "&".join(f"{key}={value}" for key, value in {"tab": "map", **params}.items())
    return f"{reverse('similarity_view', args=[project.slug])}?{query}"


def point_url(project, pk: int) -> str:
    return reverse("map_point", args=[project.slug, pk])


# --- a light page -------------------------------------------------------------


def test_the_map_page_at_3000_points_stays_under_150_kb(project, expert, client_for, capsys):
    """Samples of the size the demo has (a question and a worked answer), in 40 clusters of
    5 generators and 6 templates, with novelty and groups: every colouring is on the page."""
    generators = [generator(project, f"model-{n}-instruct") for n in range(5)]
    versions = [template_version(project, f"template-{n}") for n in range(6)]
    samples = []
    for batch in range(30):
        numbers = range(batch * 100, batch * 100 + 100)
        samples += add_samples(
            project,
            100,
            gen=generators[batch % 5],
            template_version=versions[batch % 6],
            texts=[
                (
                    f"Question {n}: a shop sells {n % 17 + 2} boxes of {n % 9 + 3} pens each. How many pens are there?",
                    f"Each box holds {n % 9 + 3} pens and there are {n % 17 + 2} boxes, so multiply: "
                    f"{n % 17 + 2} × {n % 9 + 3} = {(n % 17 + 2) * (n % 9 + 3)}. The shop has that many pens. " * 2,
                )
                for n in numbers
            ],
        )
    clusters = [cluster(project, c + 1) for c in range(40)]
    SampleSimilarity.objects.bulk_create(
        [
            SampleSimilarity(sample=s, project=project, cluster=clusters[n % 40], novelty=round(n / 3000, 3))
            for n, s in enumerate(samples)
        ]
    )
    for start in range(0, 300, 3):
        group(project, samples[start : start + 3])
    rng = np.random.default_rng(5)
    EmbeddingMap.objects.create(
        project=project,
        method="umap",
        embedded_total=1_000_000,
        points=[[s.pk, float(x), float(y)] for s, (x, y) in zip(samples, rng.random((3000, 2)))],
    )

    response = client_for(expert).get(map_url(project))
    size = len(response.content)
    with capsys.disabled():
        print(f"\nmap page at 3,000 points: {size:,} bytes ({size / 1024:.1f} KiB)")
    text = body(response)
    assert size < PAGE_BUDGET
    assert "Showing 3,000 of 1,000,000 embedded samples" in text
    assert "pens each" not in text and "multiply" not in text
    points = map_points(text)
    assert len(points) == 3000 and {p["cluster"] for p in points} == {f"cluster {c.number}" for c in clusters}


def test_each_point_carries_its_colourings_and_none_its_text(project, lead, client_for):
    gen = generator(project, "gen-a")
    version = template_version(project, "tpl-a")
    first, second = add_samples(project, 2, gen=gen, template_version=version, status="accepted")
    real = add_samples(project, 1, origin="real")[0]
    found = cluster(project, 7, [first, second])
    SampleSimilarity.objects.filter(sample=first).update(novelty=0.04)
    family = group(project, [first, second], kind="variant")
    group(project, [first, real], kind="near")
    EmbeddingMap.objects.create(
        project=project, embedded_total=3, points=[[second.pk, 0.25, 0.75], [first.pk, 0.5, 0.125], [real.pk, 1.0, 0.0]]
    )

    points = {p["id"]: p for p in map_points(body(client_for(lead).get(map_url(project))))}

    assert (points[first.pk]["x"], points[first.pk]["y"]) == (0.5, 0.125)
    assert points[first.pk] | {} == {
        "id": first.pk,
        "x": 0.5,
        "y": 0.125,
        "novelty": 0.04,
        "origin": "synthetic",
        "status": "accepted",
        "generator": "gen-a",
        "template": "tpl-a",
        "cluster": f"cluster {found.number}",
        # In a variant family and a near-duplicate group: the family says more about its structure.
        "group": f"variant family #{family.pk}",
    }
    assert points[real.pk]["generator"] == "real" and points[real.pk]["template"] == "none"
    assert points[real.pk]["cluster"] == "none" and points[real.pk]["novelty"] is None
    assert points[real.pk]["group"].startswith("near-duplicates #")


@pytest.mark.parametrize("colour", ["cluster", "novelty", "group", "template"])
def test_the_colour_selector_offers_every_colouring(colour, project, expert, client_for):
    samples = add_samples(project, 3)
    EmbeddingMap.objects.create(project=project, embedded_total=3, points=[[s.pk, 0.5, 0.5] for s in samples])
    text = body(client_for(expert).get(map_url(project, colour=colour)))
    assert f'<option value="{colour}" selected>' in text
    assert f'data-colour="{colour}"' in text


@pytest.mark.parametrize("colour", ["text", "%3Cscript%3E", ""])
def test_an_unknown_colouring_falls_back_to_clusters(colour, project, expert, client_for):
    samples = add_samples(project, 3)
    EmbeddingMap.objects.create(project=project, embedded_total=3, points=[[s.pk, 0.5, 0.5] for s in samples])
    response = client_for(expert).get(map_url(project, colour=colour))
    assert response.status_code == 200
    assert 'data-colour="cluster"' in body(response)


def test_an_expert_holding_an_audit_item_sees_only_where_it_lies(project, expert, lead, client_for):
    gen = generator(project, "gen-held")
    held_samples = add_samples(project, 10, gen=gen, template_version=template_version(project, "tpl-held"))
    cluster(project, 3, held_samples)
    SampleSimilarity.objects.filter(sample__in=held_samples).update(novelty=0.3)
    audit_create(project_access(lead, project), scope="project", sample_size=10, overlap=1, gold_items=0, seed=1)
    assert AuditItem.objects.count() == 10
    later = add_samples(project, 1, gen=gen)[0]
    EmbeddingMap.objects.create(
        project=project, embedded_total=11, points=[[s.pk, 0.1, 0.2] for s in [*held_samples, later]]
    )

    seen = {p["id"]: p for p in map_points(body(client_for(expert).get(map_url(project))))}
    held = seen[held_samples[0].pk]
    assert (held["x"], held["y"]) == (0.1, 0.2)
    assert {held[key] for key in ("origin", "status", "generator", "template", "cluster", "group")} == {"hidden"}
    assert held["novelty"] is None
    assert seen[later.pk]["generator"] == "gen-held"
    lead_view = {p["id"]: p for p in map_points(body(client_for(lead).get(map_url(project))))}
    assert lead_view[held_samples[0].pk]["cluster"] == "cluster 3"
    assert lead_view[held_samples[0].pk]["novelty"] == 0.3


# --- the hovered point --------------------------------------------------------


@pytest.mark.parametrize("role, status", [("expert", 200), ("lead", 200), ("admin_member", 200), ("outsider", 404)])
def test_a_points_text_is_for_the_projects_members_only(role, status, request, project, client_for):
    sample = add_samples(project, 1, texts=[("What is 2 + 2?", "Four.")])[0]
    response = client_for(request.getfixturevalue(role)).get(point_url(project, sample.pk), headers=HTMX)
    assert response.status_code == status
    if status == 200:
        assert "What is 2 + 2?" in body(response) and "Four." in body(response)


def test_a_logged_out_visitor_is_sent_to_log_in(project, client_for):
    sample = add_samples(project, 1)[0]
    response = client_for(None).get(point_url(project, sample.pk), headers=HTMX)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_another_projects_sample_is_404_under_this_projects_slug(project, other_project, expert, client_for):
    elsewhere = add_samples(other_project, 1)[0]
    assert client_for(expert).get(point_url(project, elsewhere.pk), headers=HTMX).status_code == 404


def test_a_plain_request_for_a_point_goes_to_the_sample(project, expert, client_for):
    sample = add_samples(project, 1)[0]
    response = client_for(expert).get(point_url(project, sample.pk))
    assert response.status_code == 302
    assert response["Location"] == reverse("sample_detail", args=[project.slug, sample.pk])


def test_a_points_text_is_escaped(project, expert, client_for):
    gen = generator(project, f"gen {XSS}")
    sample = add_samples(project, 1, gen=gen, texts=[(XSS, f"</div>{XSS}")])[0]
    text = body(client_for(expert).get(point_url(project, sample.pk), headers=HTMX))
    assert text.count(XSS_ESCAPED) == 3
    assert "<script>" not in text and "</div><" not in text


def test_a_points_head_tells_lineage_cluster_and_novelty(project, expert, client_for):
    sample = add_samples(
        project, 1, gen=generator(project, "gen-a"), template_version=template_version(project, "tpl-a")
    )[0]
    cluster(project, 4, [sample])
    SampleSimilarity.objects.filter(sample=sample).update(novelty=0.25)
    text = body(client_for(expert).get(point_url(project, sample.pk), headers=HTMX))
    assert f"#{sample.pk} · synthetic · gen-a · tpl-a · pending · cluster 4 · novelty 0.25" in text


def test_a_held_points_head_hides_its_lineage_from_the_expert_not_the_lead(project, expert, lead, client_for):
    samples = add_samples(project, 10, gen=generator(project, "gen-secret"), texts=[("held q", "held a")] * 10)
    cluster(project, 9, samples)
    audit_create(project_access(lead, project), scope="project", sample_size=10, overlap=1, gold_items=0, seed=1)
    url = point_url(project, samples[0].pk)
    expert_text = body(client_for(expert).get(url, headers=HTMX))
    assert "held q" in expert_text and "in an open audit" in expert_text
    assert "gen-secret" not in expert_text and "synthetic" not in expert_text and "cluster 9" not in expert_text
    lead_text = body(client_for(lead).get(url, headers=HTMX))
    assert "gen-secret" in lead_text and "cluster 9" in lead_text


# --- the layout ---------------------------------------------------------------


def _blobs(count: int, seed: int) -> np.ndarray:
    """Two tight blobs far apart in 32 dimensions, alternating by row."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2, 32)) * 4
    return centres[np.arange(count) % 2] + rng.standard_normal((count, 32)) * 0.2


def test_from_the_cut_off_the_map_is_umap_and_keeps_the_blobs_apart(project, settings):
    settings.SIMILARITY_MAP_POINTS = 3000
    ids = np.array([s.pk for s in add_samples(project, UMAP_MIN_POINTS)])
    stored = embedding_map_build(project_id=project.pk, ids=ids, vectors=_blobs(len(ids), 1))
    assert stored.method == "umap" and stored.explained_variance == []
    coords = {pk: (x, y) for pk, x, y in stored.points}
    blob = {pk: n % 2 for n, pk in enumerate(ids.tolist())}
    centre = [np.mean([coords[pk] for pk in coords if blob[pk] == b], axis=0) for b in (0, 1)]
    # Apart: every point lies nearer its own blob's centre than the other's. (The largest distance from a
    # centre hangs on one point: it failed 7 seeds of 40, and UMAP's seed is the project's id, which
    # the test order moves.)
    mixed = [
        pk
        for pk in coords
        if np.linalg.norm(np.array(coords[pk]) - centre[blob[pk]])
        >= np.linalg.norm(np.array(coords[pk]) - centre[1 - blob[pk]])
    ]
    assert not mixed
    spread = np.median([np.linalg.norm(np.array(coords[pk]) - centre[blob[pk]]) for pk in coords])
    assert np.linalg.norm(centre[0] - centre[1]) > 2 * spread


def test_below_the_cut_off_the_map_is_pca(project):
    ids = np.array([s.pk for s in add_samples(project, UMAP_MIN_POINTS - 1)])
    stored = embedding_map_build(project_id=project.pk, ids=ids, vectors=_blobs(len(ids), 1))
    assert stored.method == "pca" and len(stored.explained_variance) == 2


def test_one_state_of_the_data_gives_one_map_whatever_the_order_it_comes_in(project, settings):
    settings.SIMILARITY_MAP_POINTS = 120
    ids = np.array([s.pk for s in add_samples(project, 150)])
    vectors = _blobs(150, 2)
    first = embedding_map_build(project_id=project.pk, ids=ids, vectors=vectors).points
    shuffled = np.random.default_rng(9).permutation(150)
    second = embedding_map_build(project_id=project.pk, ids=ids[shuffled], vectors=vectors[shuffled]).points
    assert len(first) == 120 and first == second
    assert Sample.objects.filter(pk__in=[p[0] for p in first]).count() == 120
