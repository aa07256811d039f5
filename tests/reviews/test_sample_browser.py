"""The sample browser: every filter, keyset pages, counts, bad filters, "find
similar", and the sample detail page with its lineage, verdicts and history."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.urls import reverse

from reviews.models import Verdict
from synthreview.projects.models import SampleCount
from tests.reviews.review_helpers import (
    HTMX,
    XSS,
    XSS_ESCAPED,
    add_sample,
    add_samples,
    body,
    cluster,
    flag,
    generator,
    group,
    members_token,
    run,
    score,
    template_version,
)

pytestmark = pytest.mark.django_db
ON_POSTGRES = connection.vendor == "postgresql"


def samples_url(project, **params) -> str:
    url = reverse("sample_list", args=[project.slug])
    return f"{url}?{urlencode(params)}" if params else url


def listed(response) -> list[int]:
    """Sample ids in the result table, in the order shown."""
    return [int(pk) for pk in re.findall(r'name="ids" value="(\d+)"', body(response))]


def match_count(response) -> str:
    return re.search(r'data-testid="match-count">([^<]*)<', body(response)).group(1)


def pager(response, label: str) -> str | None:
    """The query string of the "older" or "newer" link, if the page has one."""
    pattern = {"older": r'<a href="\?([^"]*)"[^>]*data-testid="older"', "newer": r'<a href="\?([^"]*)"[^>]*>← newer'}
    match = re.search(pattern[label], body(response))
    return match.group(1).replace("&amp;", "&") if match else None


@pytest.fixture
def catalogue(project, expert, lead):
    """A small project with one sample for each thing a filter can pick out."""
    gen_a, gen_b = generator(project, "gen-a"), generator(project, "gen-b")
    tpl_a, tpl_b = template_version(project, "tpl-a"), template_version(project, "tpl-b")
    run_a = run(project, "run-a", tpl_a, gen_a)
    samples = {
        "real_eval": add_sample(
            project,
            origin="real",
            status="accepted",
            split="eval",
            input="Which fruit is red?",
            output="An apple is red.",
        ),
        "real_train": add_sample(
            project, origin="real", split="train", input="How many legs has a spider?", output="Eight legs."
        ),
        "a_run": add_sample(
            project,
            gen=gen_a,
            run=run_a,
            template_version=tpl_a,
            input="Count the apples in the basket.",
            output="There are three apples.",
        ),
        "a_free": add_sample(
            project, gen=gen_a, template_version=tpl_a, status="rejected", input="Name a planet.", output="Mars."
        ),
        "b_one": add_sample(project, gen=gen_b, template_version=tpl_b, input="What is 2+2?", output="4"),
        "b_two": add_sample(
            project, gen=gen_b, template_version=tpl_b, status="accepted", input="What is 3+3?", output="6"
        ),
    }
    Verdict.objects.create(sample=samples["real_eval"], reviewer=expert, value="correct")
    Verdict.objects.create(sample=samples["a_free"], reviewer=lead, value="wrong", error_category="other")
    Verdict.objects.create(sample=samples["real_train"], reviewer=expert, value="unsure")
    flag(samples["b_one"], "math-answer")
    flag(samples["a_run"], "length-outlier")
    score(samples["b_one"], 0.05)
    score(samples["a_run"], 0.3)
    score(samples["b_two"], 0.6)
    dense = cluster(project, 1, [samples["b_one"], samples["b_two"]])
    pair = group(project, [samples["a_run"], samples["b_two"]])
    ids = {
        "gen_a": gen_a.pk,
        "gen_b": gen_b.pk,
        "tpl_a": tpl_a.template_id,
        "run_a": run_a.pk,
        "cluster": dense.pk,
        "group": pair.pk,
    }
    return samples, ids


FILTERS = [
    ({"origin": "real"}, {"real_eval", "real_train"}),
    ({"origin": "synthetic", "status": "pending"}, {"a_run", "b_one"}),
    ({"generator": "gen_b"}, {"b_one", "b_two"}),
    ({"template": "tpl_a"}, {"a_run", "a_free"}),
    ({"run": "run_a"}, {"a_run"}),
    ({"status": "accepted"}, {"real_eval", "b_two"}),
    ({"split": "eval"}, {"real_eval"}),
    ({"split": "train"}, {"real_train"}),
    ({"verdict": "correct"}, {"real_eval"}),
    ({"verdict": "wrong"}, {"a_free"}),
    ({"verdict": "unsure"}, {"real_train"}),
    ({"verdict": "none"}, {"a_run", "b_one", "b_two"}),
    ({"flag": "math-answer"}, {"b_one"}),
    ({"flag": "any"}, {"b_one", "a_run"}),
    ({"novelty_min": "0.2"}, {"a_run", "b_two"}),
    ({"novelty_max": "0.3"}, {"b_one", "a_run"}),
    ({"novelty_min": "0.2", "novelty_max": "0.5"}, {"a_run"}),
    ({"cluster": "cluster"}, {"b_one", "b_two"}),
    ({"group": "group"}, {"a_run", "b_two"}),
    ({"q": "spider"}, {"real_train"}),
    ({"generator": "gen_a", "q": "planet"}, {"a_free"}),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS, ids=[urlencode(p) for p, _ in FILTERS])
def test_each_filter_lists_exactly_the_matching_samples(params, expected, catalogue, project, expert, client_for):
    samples, ids = catalogue
    query = {key: ids.get(value, value) for key, value in params.items()}
    response = client_for(expert).get(samples_url(project, **query))
    assert response.status_code == 200
    assert set(listed(response)) == {samples[name].pk for name in expected}
    assert match_count(response) == str(len(expected))


def test_text_search_stems_words_on_postgres_and_matches_substrings_elsewhere(catalogue, project, expert, client_for):
    samples, _ = catalogue
    response = client_for(expert).get(samples_url(project, q="apples"))
    if ON_POSTGRES:
        # "apples" and "apple" share the stem "appl".
        assert set(listed(response)) == {samples["real_eval"].pk, samples["a_run"].pk}
    else:
        assert set(listed(response)) == {samples["a_run"].pk}


def test_unfiltered_list_shows_every_sample_newest_first(catalogue, project, expert, client_for):
    samples, _ = catalogue
    response = client_for(expert).get(samples_url(project))
    assert listed(response) == sorted((s.pk for s in samples.values()), reverse=True)


def test_htmx_filter_returns_only_the_results_partial(catalogue, project, expert, client_for):
    response = client_for(expert).get(samples_url(project, origin="real"), headers=HTMX)
    assert response.status_code == 200
    assert body(response).lstrip().startswith('<section id="results"')
    assert 'id="filters"' not in body(response)


# --- keyset pages -------------------------------------------------------------


def test_older_and_newer_pages_cover_every_sample_once(project, expert, client_for):
    ids = sorted((s.pk for s in add_samples(project, 120)), reverse=True)
    client = client_for(expert)
    pages, response = [], client.get(samples_url(project))
    assert pager(response, "newer") is None
    while True:
        pages.append(listed(response))
        older = pager(response, "older")
        if older is None:
            break
        response = client.get(f"{samples_url(project)}?{older}")
    assert [len(page) for page in pages] == [50, 50, 20]
    assert [pk for page in pages for pk in page] == ids
    # Back up from the last page: each "newer" link gives the page before it.
    newer = pager(response, "newer")
    second = client.get(f"{samples_url(project)}?{newer}")
    assert listed(second) == pages[1]
    first = client.get(f"{samples_url(project)}?{pager(second, 'newer')}")
    assert listed(first) == pages[0]
    assert pager(first, "newer") is None


def test_pages_keep_the_filter(project, expert, client_for):
    gen_b = generator(project, "gen-b")
    add_samples(project, 30)
    wanted = add_samples(project, 60, gen=gen_b)
    add_samples(project, 30)
    client = client_for(expert)
    first = client.get(samples_url(project, generator=gen_b.pk))
    older = pager(first, "older")
    assert f"generator={gen_b.pk}" in older
    second = client.get(f"{samples_url(project)}?{older}")
    assert listed(first) + listed(second) == sorted((s.pk for s in wanted), reverse=True)


# --- counts -------------------------------------------------------------------


def test_the_unfiltered_count_comes_from_the_counters(project, expert, client_for):
    add_samples(project, 3)
    add_samples(project, 2, origin="real", status="accepted")
    client = client_for(expert)
    assert match_count(client.get(samples_url(project))) == "5"
    assert match_count(client.get(samples_url(project, origin="real"))) == "2"
    assert match_count(client.get(samples_url(project, status="pending"))) == "3"
    # Proof that no COUNT(*) ran: a counter that is off shows through.
    SampleCount.objects.filter(project=project, origin="synthetic").update(count=1234)
    assert match_count(client.get(samples_url(project))) == "1,236"


def test_a_filtered_count_is_exact_up_to_the_cap(project, expert, client_for, monkeypatch):
    monkeypatch.setattr("reviews.selectors.browser.COUNT_CAP", 5)
    gen_b = generator(project, "gen-b")
    add_samples(project, 5, gen=gen_b)
    add_samples(project, 9)
    response = client_for(expert).get(samples_url(project, generator=gen_b.pk))
    assert match_count(response) == "5"


@pytest.mark.parametrize("by", ["generator", "text"])
def test_a_filtered_count_past_the_cap_says_more_than_the_cap(by, project, expert, client_for, monkeypatch):
    monkeypatch.setattr("reviews.selectors.browser.COUNT_CAP", 5)
    gen_b = generator(project, "gen-b")
    # More than a page: a first page that holds every match is the count, exactly.
    add_samples(project, 60, gen=gen_b, texts=[(f"question {i}", "answer") for i in range(60)])
    params = {"generator": gen_b.pk} if by == "generator" else {"q": "question"}
    response = client_for(expert).get(samples_url(project, **params))
    assert match_count(response) == "more than 5"
    assert 'data-count="capped"' in body(response)


@pytest.mark.skipif(not ON_POSTGRES, reason="the planner's estimate is PostgreSQL's")
@pytest.mark.parametrize("by", ["generator", "text"])
def test_a_count_expected_to_be_large_is_the_planners_estimate(by, project, expert, client_for, monkeypatch):
    monkeypatch.setattr("reviews.selectors.browser.ESTIMATE_FROM", 1)
    gen_b = generator(project, "gen-b")
    # More than a page: a first page that holds every match is the count, exactly.
    add_samples(project, 60, gen=gen_b, texts=[(f"question {i}", "answer") for i in range(60)])
    params = {"generator": gen_b.pk} if by == "generator" else {"q": "question"}
    response = client_for(expert).get(samples_url(project, **params))
    assert match_count(response).startswith("about ")
    assert 'data-count="estimated"' in body(response)


def test_a_small_count_is_exact_and_says_so(project, expert, client_for):
    gen_b = generator(project, "gen-b")
    add_samples(project, 3, gen=gen_b)
    add_samples(project, 4)
    response = client_for(expert).get(samples_url(project, generator=gen_b.pk))
    assert match_count(response) == "3"
    assert 'data-count="exact"' in body(response)


# --- bad filters ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"novelty_min": "0.8", "novelty_max": "0.2"}, "The novelty range is empty"),
        ({"novelty_min": "high"}, "novelty_min: Enter a number."),
        ({"novelty_max": "1.5"}, "novelty_max: Ensure this value is less than or equal to 1.0."),
        ({"status": "maybe"}, "status: Select a valid choice."),
        ({"generator": "999999"}, "generator: Select a valid choice."),
        ({"cluster": "x"}, "cluster: Enter a whole number."),
    ],
)
def test_an_invalid_filter_is_400_with_a_clear_message(params, message, project, expert, client_for):
    add_samples(project, 2)
    response = client_for(expert).get(samples_url(project, **params))
    assert response.status_code == 400
    assert 'data-testid="filter-errors"' in body(response)
    assert message in body(response)
    assert listed(response) == []


def test_another_projects_generator_is_not_a_valid_filter(project, other_project, expert, client_for):
    theirs = generator(other_project, "theirs")
    add_sample(other_project, gen=theirs)
    response = client_for(expert).get(samples_url(project, generator=theirs.pk))
    assert response.status_code == 400
    assert listed(response) == []


# --- find similar ---------------------------------------------------------------


def test_find_similar_lists_the_stored_neighbours_nearest_first(project, other_project, expert, client_for):
    anchor, near, middle, far, _unrelated = add_samples(project, 5)
    foreign = add_sample(other_project)
    score(anchor, 0.2, neighbours=[[middle.pk, 0.93], [near.pk, 0.91], [foreign.pk, 0.9], [far.pk, 0.5]])
    response = client_for(expert).get(samples_url(project, similar_to=anchor.pk))
    assert response.status_code == 200
    rows = re.findall(r'<tr><td><a href="[^"]*">(\d+)</a></td><td class="num">([\d.]+)</td>', body(response))
    assert rows == [(str(middle.pk), "0.930"), (str(near.pk), "0.910"), (str(far.pk), "0.500")]


def test_find_similar_without_stored_neighbours_says_so(project, expert, client_for):
    anchor = add_sample(project)
    response = client_for(expert).get(samples_url(project, similar_to=anchor.pk))
    assert "No neighbours stored for this sample yet." in body(response)


def test_find_similar_for_another_projects_sample_is_404(project, other_project, expert, client_for):
    theirs = add_sample(other_project)
    assert client_for(expert).get(samples_url(project, similar_to=theirs.pk)).status_code == 404


# --- cost ---------------------------------------------------------------------


@pytest.mark.parametrize("count", [5, 60])
def test_the_list_page_costs_the_same_queries_at_any_page_size(
    count, project, expert, client_for, django_assert_max_num_queries
):
    tpl = template_version(project)
    gen = generator(project)
    samples = add_samples(project, count, gen=gen, template_version=tpl, run=run(project, "r", tpl, gen))
    for sample in samples[::2]:
        score(sample, 0.5)
    client = client_for(expert)
    with django_assert_max_num_queries(11):
        response = client.get(samples_url(project))
    assert len(listed(response)) == min(count, 50)
    with django_assert_max_num_queries(11):
        response = client.get(samples_url(project, generator=gen.pk, novelty_max="0.9"))
    assert len(listed(response)) == min(len(samples[::2]), 50)


# --- detail -------------------------------------------------------------------


def test_the_detail_page_shows_lineage_verdicts_and_history(project, expert, lead, client_for):
    gen = generator(project, "llama-gen")
    tpl = template_version(project, "word-problems")
    sample, other = add_samples(project, 2, gen=gen, template_version=tpl, run=run(project, "nightly-7", tpl, gen))
    erin, lee = client_for(expert), client_for(lead)
    erin.post(
        reverse("verdict_save", args=[project.slug, sample.pk]),
        {"value": "unsure", "revision": 0, "note": "check the units"},
        headers=HTMX,
    )
    lee.post(
        reverse("samples_bulk", args=[project.slug]),
        {"action": "reject", "ids": f"{sample.pk},{other.pk}", "expected_count": 2},
    )
    lee.post(reverse("samples_bulk", args=[project.slug]), {"action": "accept", "ids": other.pk, "expected_count": 1})
    text = body(erin.get(reverse("sample_detail", args=[project.slug, sample.pk])))
    assert "llama-gen" in text and "word-problems v1" in text and "nightly-7" in text
    assert "erin-expert" in text and "Unsure" in text and "check the units" in text
    history = text[text.index("<h2>History</h2>") :]
    assert "verdict.record" in history
    assert "samples.bulk_reject" in history
    # The bulk accept listed only the other sample.
    assert "samples.bulk_accept" not in history


def test_the_history_says_how_many_samples_a_bulk_action_changed(project, lead, client_for):
    sample, other, third = add_samples(project, 3)
    client = client_for(lead)
    client.post(
        reverse("samples_bulk", args=[project.slug]),
        {"action": "reject", "ids": f"{sample.pk},{other.pk},{third.pk}", "expected_count": 3},
    )
    text = body(client.get(reverse("sample_detail", args=[project.slug, sample.pk])))
    history = text[text.index("<h2>History</h2>") :]
    # Three changed: this sample and two others.
    assert "with 3 others" not in history
    assert "one of 3 changed by filter" in history


def test_the_history_shows_the_group_decision_that_rejected_the_sample(project, lead, client_for):
    keeper, duplicate = add_samples(project, 2)
    pair = group(project, [keeper, duplicate])
    client = client_for(lead)
    client.post(
        reverse("group_resolve", args=[project.slug, pair.pk]),
        {"keep": keeper.pk, "members": members_token(pair)},
        headers=HTMX,
    )
    text = body(client.get(reverse("sample_detail", args=[project.slug, duplicate.pk])))
    history = text[text.index("<h2>History</h2>") :]
    assert "duplicate_group.resolve" in history
    assert "lee-lead" in history


def test_the_detail_page_of_another_projects_sample_is_404(project, other_project, expert, client_for):
    theirs = add_sample(other_project)
    assert client_for(expert).get(reverse("sample_detail", args=[project.slug, theirs.pk])).status_code == 404


# --- escaping -----------------------------------------------------------------


def test_sample_text_is_escaped_in_the_browser_find_similar_and_detail(project, expert, client_for):
    evil, neighbour = add_samples(project, 2, texts=[(XSS, XSS), (XSS, XSS)], label=XSS)
    score(neighbour, 0.1, neighbours=[[evil.pk, 0.99]])
    score(evil, 0.1, neighbours=[[neighbour.pk, 0.99]])
    client = client_for(expert)
    for url in (
        samples_url(project),
        samples_url(project, similar_to=neighbour.pk),
        reverse("sample_detail", args=[project.slug, evil.pk]),
    ):
        text = body(client.get(url))
        assert XSS_ESCAPED in text, url
        assert "<script>alert(1)" not in text, url
