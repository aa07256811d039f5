"""The sample browser's active-filter chips and its orders: each chip names its filter in the
user's words and removes that filter alone; every order walks its pages in the right order,
and a bad order or page link never errors."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlencode

import pytest
from django.urls import reverse

from generation.models import Sample
from reviews.models import SampleSimilarity, Verdict
from reviews.selectors.browser_sort import ORDERS, cursor_encode
from tests.reviews.review_helpers import (
    HTMX,
    XSS,
    XSS_ESCAPED,
    add_samples,
    body,
    cluster,
    generator,
    members_token,
    run,
    template_version,
)

pytestmark = pytest.mark.django_db


def samples_url(project, **params) -> str:
    url = reverse("sample_list", args=[project.slug])
    return f"{url}?{urlencode(params)}" if params else url


def listed(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="ids" value="(\d+)"', body(response))]


def chips(response) -> dict[str, tuple[str, dict[str, list[str]]]]:
    """filter name -> (the chip's visible words, the query its link leads to)."""
    found = re.findall(
        r'<a class="chip" data-testid="chip" data-filter="([^"]+)" href="\?([^"]*)"[^>]*>'
        r'<span class="chip-label">([^<]*)</span>([^<]*)<span',
        body(response),
    )
    return {name: (unescape(f"{label}{text}").strip(), parse_qs(unescape(query))) for name, query, label, text in found}


def next_link(response, testid: str = "older") -> str | None:
    match = re.search(rf'<a href="\?([^"]*)"[^>]*data-testid="{testid}"', body(response))
    return unescape(match.group(1)) if match else None


def notices(response) -> list[str]:
    return re.findall(r'data-testid="notice">([^<]*)<', body(response))


# --- chips --------------------------------------------------------------------


@pytest.fixture
def lineage(project):
    gen = generator(project, "careful-gpt")
    version = template_version(project, "word-problems")
    the_run = run(project, "Tuesday batch", version, gen)
    samples = add_samples(project, 3, gen=gen, template_version=version, run=the_run)
    # Numbered as the similarity page numbers it; the pk differs from the number.
    cluster(project, 3)
    numbered = cluster(project, 16, samples)
    if numbered.pk == 16:
        # PostgreSQL's sequences run on across tests, so the pk can land on 16; the next one will not.
        numbered.delete()
        numbered = cluster(project, 16, samples)
    assert numbered.pk != 16
    return gen, version, the_run, numbered, samples


def test_each_chip_names_its_filter_in_words_not_ids(lineage, project, expert, client_for):
    gen, version, the_run, numbered, _ = lineage
    params = {
        "generator": gen.pk,
        "template": version.template.pk,
        "run": the_run.pk,
        "cluster": numbered.pk,
        "verdict": "none",
        "origin": "synthetic",
        "novelty_min": "0.2",
        "q": "apples",
    }
    shown = chips(client_for(expert).get(samples_url(project, **params)))
    words = {name: text for name, (text, _) in shown.items()}
    assert words == {
        "q": "Text: “apples”",
        "origin": "Origin: Synthetic",
        "generator": "Generator: careful-gpt",
        "template": "Template: word-problems (v1)",
        "run": "Run: Tuesday batch",
        "verdict": "Verdict: No verdict yet",
        "novelty_min": "Novelty: ≥ 0.2",
        "cluster": "Cluster: #16",
    }


def test_each_chip_removes_only_its_own_filter_and_keeps_the_order(lineage, project, expert, client_for):
    gen, version, the_run, numbered, _ = lineage
    params = {
        "generator": str(gen.pk),
        "template": str(version.template.pk),
        "run": str(the_run.pk),
        "cluster": str(numbered.pk),
        "status": "pending",
        "sort": "longest",
    }
    shown = chips(client_for(expert).get(samples_url(project, **params)))
    assert set(shown) == {"generator", "template", "run", "cluster", "status"}
    for name, (_, query) in shown.items():
        expected = {key: [value] for key, value in params.items() if key != name}
        assert query == expected, name


def test_a_cluster_link_from_the_similarity_page_shows_as_a_chip(lineage, project, expert, client_for):
    *_, numbered, samples = lineage
    response = client_for(expert).get(samples_url(project, cluster=numbered.pk))
    assert chips(response)["cluster"][0] == "Cluster: #16"
    assert sorted(listed(response)) == sorted(s.pk for s in samples)
    # Removing it lists the whole project again, and offers "clear all".
    assert chips(response)["cluster"][1] == {}
    assert 'data-testid="clear-all"' in body(response)


def test_a_selection_of_ids_shows_as_one_chip(project, expert, client_for):
    picked = add_samples(project, 3)
    response = client_for(expert).get(f"{samples_url(project)}?ids={picked[0].pk},{picked[2].pk}")
    assert chips(response)["ids"][0] == "Selected: 2 samples"


def test_no_filter_no_chips(project, expert, client_for):
    add_samples(project, 2)
    response = client_for(expert).get(samples_url(project))
    assert chips(response) == {}
    assert 'data-testid="chips"' not in body(response)


def test_generator_named_like_a_script_is_escaped_in_its_chip(project, expert, client_for):
    gen = generator(project, XSS)
    add_samples(project, 1, gen=gen)
    response = client_for(expert).get(samples_url(project, generator=gen.pk))
    chip = re.search(r'<a class="chip".*?</a>', body(response), re.S).group(0)
    assert XSS_ESCAPED in chip
    assert XSS not in body(response)


def test_htmx_chip_swaps_the_form_and_the_list(lineage, project, expert, client_for):
    gen, *_ = lineage
    response = client_for(expert).get(samples_url(project), headers={**HTMX, "HX-Target": "browser"})
    html = body(response).lstrip()
    assert html.startswith('<div id="browser">')
    assert 'id="filters"' in html and 'id="results"' in html
    response = client_for(expert).get(samples_url(project, generator=gen.pk), headers=HTMX)
    assert body(response).lstrip().startswith('<section id="results"')
    assert "Generator: careful-gpt" in unescape(body(response))


def test_bulk_confirmation_names_the_filter(lineage, project, lead, client_for):
    gen, *_ = lineage
    url = reverse("samples_bulk", args=[project.slug])
    response = client_for(lead).get(f"{url}?{urlencode({'generator': gen.pk, 'action': 'reject'})}")
    facts = re.search(r'data-testid="bulk-filter">(.*?)</dl>', body(response), re.S).group(1)
    assert "<dt>Generator</dt><dd>careful-gpt</dd>" in facts
    assert f"<dd><code>{gen.pk}</code></dd>" not in facts


# --- orders -------------------------------------------------------------------


@pytest.fixture
def varied(project):
    """120 samples whose lengths, novelty and similarity to real repeat, so ties fall to the id."""
    texts = [(f"q{'x' * (n % 7)}", "a" * (n * 5 % 11)) for n in range(120)]
    samples = add_samples(project, 120, texts=texts)
    scored = [s for n, s in enumerate(samples) if n % 5]  # one in five not scored yet
    SampleSimilarity.objects.bulk_create(
        [
            SampleSimilarity(
                sample=s,
                project=project,
                novelty=round((n * 37 % 13) / 13, 3),
                nearest_real_similarity=round((n * 11 % 9) / 9, 3),
            )
            for n, s in enumerate(scored)
        ]
    )
    return samples


def expected_order(project, name: str) -> list[int]:
    """The order worked out in Python from the stored rows."""
    rows = list(Sample.objects.filter(project=project).values("pk", "input", "output"))
    similarity = {row.sample_id: row for row in SampleSimilarity.objects.filter(project=project)}
    if name == "newest":
        return sorted((r["pk"] for r in rows), reverse=True)
    if name == "oldest":
        return sorted(r["pk"] for r in rows)
    if name in ("longest", "shortest"):
        keyed = [(len(r["input"]) + len(r["output"]), r["pk"]) for r in rows]
        return [pk for _, pk in sorted(keyed, reverse=name == "longest")]
    column = {"novelty": "novelty", "-novelty": "novelty", "nearest_real": "nearest_real_similarity"}[name]
    keyed = [(getattr(row, column), pk) for pk, row in similarity.items() if getattr(row, column) is not None]
    return [pk for _, pk in sorted(keyed, reverse=name != "novelty")]


@pytest.mark.parametrize("name", list(ORDERS))
def test_every_order_walks_its_pages_in_order_and_back(varied, project, expert, client_for, name):
    client = client_for(expert)
    pages, response = [], client.get(samples_url(project, sort=name))
    assert next_link(response, "newer") is None
    while True:
        assert response.status_code == 200
        pages.append(listed(response))
        after = next_link(response)
        if after is None:
            break
        assert f"sort={name}" in after or name == "newest"
        response = client.get(f"{samples_url(project)}?{after}")
    expected = expected_order(project, name)
    assert len(pages) >= 2
    assert [pk for page in pages for pk in page] == expected
    # Back from the last page, one page at a time.
    back = client.get(f"{samples_url(project)}?{next_link(response, 'newer')}")
    assert listed(back) == pages[-2]
    assert notices(back) == []


def test_orders_by_a_score_count_only_scored_samples(varied, project, expert, client_for):
    response = client_for(expert).get(samples_url(project, sort="novelty"))
    count = re.search(r'data-testid="match-count">([^<]*)<', body(response)).group(1)
    assert count == "96"  # 120 less the 24 not scored
    assert 'data-testid="scored-only"' in body(response)


def test_order_keeps_the_filter_across_pages(varied, project, expert, client_for):
    target = varied[:60]
    Verdict.objects.bulk_create([Verdict(sample=s, reviewer=expert, value="correct") for s in target])
    client = client_for(expert)
    first = client.get(samples_url(project, sort="shortest", verdict="correct"))
    second = client.get(f"{samples_url(project)}?{next_link(first)}")
    shown = listed(first) + listed(second)
    wanted = {s.pk for s in target}
    assert [pk for pk in expected_order(project, "shortest") if pk in wanted] == shown


@pytest.mark.parametrize("sort", ["bogus", "<script>", "-id", ""])
def test_unknown_order_falls_back_to_newest(varied, project, expert, client_for, sort):
    response = client_for(expert).get(samples_url(project, sort=sort))
    assert response.status_code == 200
    assert listed(response) == expected_order(project, "newest")[:50]
    assert bool(notices(response)) == bool(sort)


def test_bad_page_links_fall_back_to_the_first_page(varied, project, expert, client_for):
    client = client_for(expert)
    first_page = expected_order(project, "longest")[:50]
    foreign = cursor_encode(ORDERS["shortest"], 3, varied[5].pk)
    signed = cursor_encode(ORDERS["longest"], 3, varied[5].pk)
    tampered = signed.replace(signed.split(":")[0], signed.split(":")[0][::-1])
    for cursor in ["garbage", "12345", foreign, tampered, "", "%00", signed[:-3]]:
        for direction in ("after", "before"):
            response = client.get(samples_url(project, sort="longest", **{direction: cursor}))
            assert response.status_code == 200, (direction, cursor)
            if cursor:
                assert listed(response) == first_page, (direction, cursor)
                assert notices(response), (direction, cursor)


def test_a_non_integer_cursor_on_newest_is_ignored(varied, project, expert, client_for):
    response = client_for(expert).get(samples_url(project, after="abc"))
    assert response.status_code == 200
    assert listed(response) == expected_order(project, "newest")[:50]


def test_a_cluster_action_names_the_cluster_by_its_number_and_returns_to_its_chip(lineage, project, lead, client_for):
    *_, numbered, samples = lineage
    client = client_for(lead)
    url = reverse("samples_bulk", args=[project.slug])
    confirm = client.get(f"{url}?{urlencode({'cluster': numbered.pk, 'action': 'reject'})}")
    facts = re.search(r'data-testid="bulk-filter">(.*?)</dl>', body(confirm), re.S).group(1)
    assert "<dt>Cluster</dt><dd>#16</dd>" in facts
    done = client.post(
        url,
        {"cluster": numbered.pk, "action": "reject", "expected_count": 3, "members": members_token(numbered)},
        follow=True,
    )
    assert "Rejected 3 of 3 matching samples in cluster #16" in body(done)
    assert chips(done)["cluster"][0] == "Cluster: #16"
    assert {s.status for s in Sample.objects.filter(pk__in=[s.pk for s in samples])} == {"rejected"}
