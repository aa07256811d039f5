"""Two reviewers hold the same sample in the queue; the second is told, not silently overwritten."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from generation.models import Sample, SampleStatus
from reviews.models import Verdict
from tests.browser.conftest import make_sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Chromium logs every 4xx response as a console error; a 409 is how this card arrives.
CONFLICT_RESPONSE = "status of 409 (Conflict)"


def _open_sample(page: Page, url: str, sample: Sample) -> None:
    page.goto(url)
    expect(page.locator("#card")).to_have_attribute("data-sample", str(sample.pk))


def test_second_reviewer_is_told_of_the_first_verdict_and_may_overwrite_it(
    open_page, live_server, project, generator, expert, lead
):
    sample = make_sample(project, generator, "What is 12 × 12?", "144")
    make_sample(project, generator, "What is 13 × 13?", "169")
    url = f"{live_server.url}/p/{project.slug}/queue/?sample={sample.pk}"
    first, second = open_page(expert), open_page(lead)
    _open_sample(first, url, sample)
    _open_sample(second, url, sample)

    first.keyboard.press("c")
    expect(first.locator("#card")).not_to_have_attribute("data-sample", str(sample.pk))
    assert Sample.objects.get(pk=sample.pk).status == SampleStatus.ACCEPTED

    second.keyboard.press("3")
    second.keyboard.press("w")
    conflict = second.get_by_test_id("conflict")
    expect(conflict).to_contain_text("erin-expert marked it correct")
    expect(conflict).to_contain_text("It is now accepted")
    expect(second.locator("#card")).to_have_attribute("data-sample", str(sample.pk))
    assert Sample.objects.get(pk=sample.pk).status == SampleStatus.ACCEPTED
    assert not Verdict.objects.filter(reviewer=lead).exists()

    second.keyboard.press("3")
    second.keyboard.press("w")
    expect(second.locator("#card")).not_to_have_attribute("data-sample", str(sample.pk))
    expect(second.get_by_test_id("saved")).to_contain_text(f"Saved wrong (incomplete) on sample {sample.pk}")

    assert Sample.objects.get(pk=sample.pk).status == SampleStatus.REJECTED
    verdicts = {v.reviewer_id: (v.value, v.error_category) for v in Verdict.objects.filter(sample=sample)}
    assert verdicts == {expert.pk: ("correct", ""), lead.pk: ("wrong", "incomplete")}
    assert first.errors.unexpected() == []
    assert second.errors.unexpected(allow=(CONFLICT_RESPONSE,)) == []
