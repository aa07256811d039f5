"""The length-outlier check judges synthetic samples against like with like, and never
flags the real anchors that define the distribution."""

from __future__ import annotations

import json

import pytest

from generation.checks import CheckContext, SampleInput, run_checks
from generation.checks.length import length_anchors_from
from generation.models import PromptTemplate, PromptTemplateVersion, SampleFlag
from generation.services.checks import new_samples_check, project_checks_run
from generation.services.demo import REAL_ANCHORS
from tests.reviews.review_helpers import add_samples


def _words(n: int, word: str = "word") -> str:
    return " ".join([word] * n)


def _version(project, name: str) -> PromptTemplateVersion:
    template = PromptTemplate.objects.create(project=project, name=name)
    return PromptTemplateVersion.objects.create(template=template, version=1, text="{{ facts }}")


def _length_flags(project) -> dict[int, str]:
    return dict(
        SampleFlag.objects.filter(project=project, check_name="length-outlier").values_list("sample_id", "reason")
    )


FIVE_WORD_ANCHORS = CheckContext(length_anchors=length_anchors_from([5] * 30))


def test_a_real_anchor_is_never_judged_against_the_anchors():
    sample = SampleInput(output=_words(20), origin="real")
    assert run_checks(sample, ["length-outlier"], FIVE_WORD_ANCHORS) == []
    # The same text as a synthetic sample is judged: the rule itself still holds.
    assert run_checks(SampleInput(output=_words(20)), ["length-outlier"], FIVE_WORD_ANCHORS)


@pytest.mark.django_db
def test_the_demos_real_anchors_raise_no_length_flag(project):
    # The demo's own anchors: most are 5 words, a few 8 to 20 ("20 words … median 5 words" before).
    rows = [json.loads(line) for line in REAL_ANCHORS.read_text().splitlines() if line.strip()]
    add_samples(project, len(rows), origin="real", texts=[(row["question"], row["answer"]) for row in rows])
    project_checks_run(project_id=project.pk, only=["length-outlier"])
    assert _length_flags(project) == {}


@pytest.mark.django_db
def test_synthetic_samples_are_judged_against_their_template_versions_samples(project):
    # Terse real anchors (5 words) with no template: unlike the template's worked answers.
    add_samples(project, 30, origin="real", texts=[(f"q{n}", _words(5, "anchor")) for n in range(30)])
    story = _version(project, "story")
    usual = add_samples(
        project, 30, template_version=story, texts=[(f"s{n}", _words(12 + n % 3, "step")) for n in range(30)]
    )
    [runaway] = add_samples(project, 1, template_version=story, texts=[("s-long", _words(150, "step"))])

    new_samples_check(samples=[*usual, runaway], contexts={})

    flags = _length_flags(project)
    assert set(flags) == {runaway.pk}
    assert "than the 31 samples of template story v1 (median 13 words" in flags[runaway.pk]


@pytest.mark.django_db
def test_a_few_samples_without_template_anchors_fall_back_to_the_projects_anchors(project):
    add_samples(project, 20, origin="real", texts=[(f"q{n}", _words(10, "anchor")) for n in range(20)])
    lone = _version(project, "lone")
    [long] = add_samples(project, 1, template_version=lone, texts=[("long", _words(300))])
    new_samples_check(samples=[long], contexts={})
    assert _length_flags(project)[long.pk].startswith("300 words, far longer than the 20 real anchors (median 10")
