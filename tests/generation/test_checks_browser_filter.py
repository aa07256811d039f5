"""The sample browser's flag filter is a select of the registry's checks, "eval-leak" and "any"."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from generation.checks import REGISTRY
from tests.reviews.review_helpers import add_sample, body, flag

pytestmark = pytest.mark.django_db


def samples_url(project, **params: str) -> str:
    return f"{reverse('sample_list', args=[project.slug])}?{urlencode(params)}"


def listed(response) -> set[int]:
    return {int(pk) for pk in re.findall(r'name="ids" value="(\d+)"', body(response))}


def test_flag_select_lists_every_check_eval_leak_and_any(project, expert, client_for) -> None:
    response = client_for(expert).get(samples_url(project))

    select = re.search(r'<select name="flag"[^>]*>(.*?)</select>', body(response), re.DOTALL)
    assert select, "the flag filter is a select"
    values = re.findall(r'<option value="([^"]*)"', select.group(1))
    assert values == [
        "",
        "any",
        "empty",
        "truncated",
        "refusal",
        "repetition",
        "length-outlier",
        "json",
        "math-answer",
        "code-syntax",
        "eval-leak",
    ]
    assert set(REGISTRY) <= set(values)


def test_flag_filter_lists_the_flagged_samples(project, expert, client_for) -> None:
    looping = add_sample(project, input="q1", output="loop loop")
    leaked = add_sample(project, input="q2", output="copied")
    add_sample(project, input="q3", output="clean")
    flag(looping, "repetition", "89% of 4-word sequences repeat")
    flag(leaked, "eval-leak", "near eval sample 1")
    client = client_for(expert)

    assert listed(client.get(samples_url(project, flag="repetition"))) == {looping.pk}
    assert listed(client.get(samples_url(project, flag="eval-leak"))) == {leaked.pk}
    assert listed(client.get(samples_url(project, flag="any"))) == {looping.pk, leaked.pk}
    selected = body(client.get(samples_url(project, flag="repetition")))
    assert re.search(r'<option value="repetition" selected>', selected)


def test_unknown_flag_is_a_bad_filter(project, expert, client_for) -> None:
    response = client_for(expert).get(samples_url(project, flag="<script>x</script>"))

    assert response.status_code == 400
    assert "<script>x</script>" not in body(response)
