"""The sample browser's filters in combination, and its text search, against a plain reference:
every sample is checked one by one in Python (and, for PostgreSQL's text search, by to_tsvector
computed on the spot rather than read from the stored column and its index)."""

from __future__ import annotations

import itertools
import random
import re
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.urls import reverse

from generation.models import Sample, SampleFlag
from reviews.models import DuplicateGroupMember, SampleSimilarity, Verdict
from reviews.selectors.browser import CAPPED, ESTIMATED, EXACT, CountFigure
from tests.reviews.review_helpers import (
    add_sample,
    body,
    cluster,
    flag,
    generator,
    group,
    run,
    score,
    template_version,
)

pytestmark = pytest.mark.django_db
ON_POSTGRES = connection.vendor == "postgresql"

WORDS = ["apple", "apples", "orange", "train", "trains", "poem", "email", "Apple", "TRAIN"]
CHECKS = ["math-answer", "length-outlier"]


def listed(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="ids" value="(\d+)"', body(response))]


def match_count(response) -> str:
    return re.search(r'data-testid="match-count">([^<]*)<', body(response)).group(1)


@pytest.fixture
def mixed(project, other_project, expert, lead):
    """40 samples with every attribute drawn at random (seeded), and the same texts in
    another project, which no search or filter may ever return."""
    rng = random.Random(7)
    gens = [generator(project, "gen-a"), generator(project, "gen-b")]
    versions = [template_version(project, "tpl-a"), template_version(project, "tpl-b")]
    runs = [run(project, "run-a", versions[0], gens[0]), None]
    dense = cluster(project, 1)
    samples = []
    for number in range(40):
        real = rng.random() < 0.25
        words = " ".join(rng.sample(WORDS, 2))
        fields = {
            "input": f"Question {number} about {words}.",
            "output": f"Answer {number}: {rng.choice(WORDS)} and more.",
            "status": rng.choice(["pending", "accepted", "rejected"]),
        }
        if real:
            fields |= {"origin": "real", "split": rng.choice(["", "train", "eval"])}
        else:
            fields |= {"gen": rng.choice(gens), "template_version": rng.choice(versions), "run": rng.choice(runs)}
        samples.append(add_sample(project, **fields))
    for sample in samples:
        for reviewer in (expert, lead):
            if rng.random() < 0.4:
                value = rng.choice(["correct", "wrong", "unsure"])
                Verdict.objects.create(
                    sample=sample, reviewer=reviewer, value=value, error_category="other" if value == "wrong" else ""
                )
        for check in CHECKS:
            if rng.random() < 0.3:
                flag(sample, check)
        if rng.random() < 0.8:
            score(sample, round(rng.random(), 3), cluster=dense if rng.random() < 0.3 else None)
    pair = group(project, [samples[3], samples[17], samples[30]])
    for number in range(5):
        add_sample(other_project, origin="real", input=f"Question {number} about apples trains", output="poem email")
    return {
        "gens": [g.pk for g in gens],
        "templates": [v.template_id for v in versions],
        "run": runs[0].pk,
        "cluster": dense.pk,
        "group": pair.pk,
    }


def reference(project, params: dict) -> list[int]:
    """The ids the filter should list, newest first, worked out sample by sample."""
    verdicts: dict[int, set[str]] = {}
    for sample_id, value in Verdict.objects.values_list("sample_id", "value"):
        verdicts.setdefault(sample_id, set()).add(value)
    flags: dict[int, set[str]] = {}
    for sample_id, check in SampleFlag.objects.values_list("sample_id", "check_name"):
        flags.setdefault(sample_id, set()).add(check)
    similarity = {row.sample_id: row for row in SampleSimilarity.objects.all()}
    members = {(m.group_id, m.sample_id) for m in DuplicateGroupMember.objects.all()}
    text_ids = _text_reference(project, params["q"]) if params.get("q") else None

    def keeps(sample: Sample) -> bool:
        checks = {
            "origin": lambda v: sample.origin == v,
            "status": lambda v: sample.status == v,
            "split": lambda v: sample.split == v,
            "generator": lambda v: sample.generator_id == v,
            "run": lambda v: sample.run_id == v,
            "template": lambda v: sample.template_version is not None and sample.template_version.template_id == v,
            "verdict": lambda v: not verdicts.get(sample.pk) if v == "none" else v in verdicts.get(sample.pk, ()),
            "flag": lambda v: bool(flags.get(sample.pk)) if v == "any" else v in flags.get(sample.pk, ()),
            "novelty_min": lambda v: _novelty(similarity, sample) is not None and _novelty(similarity, sample) >= v,
            "novelty_max": lambda v: _novelty(similarity, sample) is not None and _novelty(similarity, sample) <= v,
            "cluster": lambda v: sample.pk in similarity and similarity[sample.pk].cluster_id == v,
            "group": lambda v: (v, sample.pk) in members,
            "q": lambda v: sample.pk in text_ids,
        }
        return all(checks[key](value) for key, value in params.items())

    every = Sample.objects.filter(project=project).select_related("template_version").order_by("-id")
    return [sample.pk for sample in every if keeps(sample)]


def _novelty(similarity, sample) -> float | None:
    return similarity[sample.pk].novelty if sample.pk in similarity else None


def _text_reference(project, text: str) -> set[int]:
    if ON_POSTGRES:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT id FROM generation_sample WHERE project_id = %s AND "
                "to_tsvector('english', input || ' ' || output) @@ websearch_to_tsquery('english', %s)",
                [project.pk, text],
            )
            return {row[0] for row in cursor.fetchall()}
    return {
        pk
        for pk, text_in, text_out in Sample.objects.filter(project=project).values_list("id", "input", "output")
        if text.lower() in text_in.lower() or text.lower() in text_out.lower()
    }


def single_filters(ids: dict) -> list[dict]:
    return [
        {"origin": "real"},
        {"origin": "synthetic"},
        {"status": "rejected"},
        {"split": "eval"},
        {"split": "train"},
        {"generator": ids["gens"][1]},
        {"template": ids["templates"][0]},
        {"run": ids["run"]},
        {"verdict": "wrong"},
        {"verdict": "unsure"},
        {"verdict": "none"},
        {"flag": "any"},
        {"flag": "math-answer"},
        {"novelty_min": 0.5},
        {"novelty_max": 0.7},
        {"cluster": ids["cluster"]},
        {"group": ids["group"]},
        {"q": "apples"},
        {"q": "train"},
    ]


def test_every_pair_and_some_triples_of_filters_list_what_the_reference_lists(mixed, project, lead, client_for):
    singles = single_filters(mixed)
    combos = [*singles]
    combos += [a | b for a, b in itertools.combinations(singles, 2) if not set(a) & set(b)]
    combos += [
        {"generator": mixed["gens"][0], "flag": "math-answer", "verdict": "wrong"},
        {"generator": mixed["gens"][1], "flag": "any", "verdict": "unsure", "status": "pending"},
        {"template": mixed["templates"][1], "verdict": "correct", "q": "apple"},
        {"origin": "real", "split": "train", "status": "accepted", "q": "orange"},
        {"run": mixed["run"], "novelty_min": 0.2, "novelty_max": 0.9, "flag": "length-outlier"},
    ]
    client = client_for(lead)
    checked = 0
    for params in combos:
        expected = reference(project, params)
        response = client.get(f"{reverse('sample_list', args=[project.slug])}?{urlencode(params)}")
        assert response.status_code == 200, params
        assert listed(response) == expected, params
        # Small results are counted exactly, and say so.
        assert match_count(response) == str(len(expected)), params
        assert 'data-count="exact"' in body(response)
        checked += bool(expected)
    # The reference is not trivially empty: most combinations match something.
    assert checked > len(combos) // 3


def test_a_combination_pages_through_every_match_once(mixed, project, lead, client_for, monkeypatch):
    monkeypatch.setattr("reviews.views.samples.PAGE_SIZE", 4, raising=False)
    monkeypatch.setattr("reviews.selectors.browser.PAGE_SIZE", 4)
    params = {"origin": "synthetic", "flag": "any"}
    expected = reference(project, params)
    assert len(expected) > 8
    client, seen = client_for(lead), []
    query = urlencode(params)
    while True:
        response = client.get(f"{reverse('sample_list', args=[project.slug])}?{query}")
        page = listed(response)
        seen += page
        found = re.search(r'<a href="\?([^"]*)"[^>]*data-testid="older"', body(response))
        if not found:
            break
        query = found.group(1).replace("&amp;", "&")
    assert seen == expected


@pytest.mark.parametrize(
    ("text", "finds", "misses"),
    [
        # Stems and case: "apples" finds "Apple" and "apple"; "trains" finds "TRAIN".
        ("apples", ["An Apple a day.", "one apple"], ["A pineapple"]),
        ("Trains", ["The TRAIN left.", "two trains"], ["a trainee"]),
        ("running", ["She runs daily.", "running late"], ["a runner"]),
    ],
)
def test_text_search_finds_the_words_a_reader_means(text, finds, misses, project, other_project, expert, client_for):
    wanted = [add_sample(project, input=f"Item {n}.", output=line) for n, line in enumerate(finds)]
    unwanted = [add_sample(project, input=f"Other {n}.", output=line) for n, line in enumerate(misses)]
    # Another project's sample with the very words: never listed, never counted.
    add_sample(other_project, origin="real", input=" ".join(finds), output=" ".join(finds))
    response = client_for(expert).get(f"{reverse('sample_list', args=[project.slug])}?{urlencode({'q': text})}")
    shown = set(listed(response))
    if ON_POSTGRES:
        assert shown == {s.pk for s in wanted}
        assert match_count(response) == str(len(wanted))
    else:
        # SQLite matches a case-blind substring: no stems, but never another project.
        assert shown == {s.pk for s in wanted + unwanted if text.lower() in s.output.lower()}
    assert not shown & {s.pk for s in unwanted} or not ON_POSTGRES


def test_a_text_search_never_lists_another_projects_samples(mixed, project, other_project, expert, client_for):
    response = client_for(expert).get(f"{reverse('sample_list', args=[project.slug])}?q=apples")
    shown = set(listed(response))
    assert shown
    assert not shown & set(Sample.objects.filter(project=other_project).values_list("id", flat=True))


@pytest.mark.parametrize(
    ("figure", "said"),
    [
        (CountFigure(7), "7"),
        (CountFigure(12_345), "12,345"),
        (CountFigure(12_345, ESTIMATED), "about 12,000"),
        (CountFigure(987_654, ESTIMATED), "about 990,000"),
        (CountFigure(42, ESTIMATED), "about 42"),
        (CountFigure(1_000, CAPPED), "more than 1,000"),
    ],
)
def test_a_count_says_whether_it_is_exact_estimated_or_capped(figure, said):
    assert str(figure) == said
    assert figure.exact == (figure.kind == EXACT)
