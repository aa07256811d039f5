"""An expert reviews the queue with the keyboard alone, in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from generation.models import Sample, SampleStatus
from reviews.models import Verdict
from synthreview.projects.models import AuditLog
from tests.browser.conftest import make_sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def samples(project, generator) -> list[Sample]:
    return [make_sample(project, generator, f"What is {n} + {n}?", str(2 * n)) for n in range(1, 7)]


def _open_queue(page: Page, live_server, project, query: str = "") -> None:
    page.goto(f"{live_server.url}/p/{project.slug}/queue/{query}")
    expect(page.locator("#verdict-form")).to_be_visible()


def _shown(page: Page) -> str:
    return page.locator("#card").get_attribute("data-sample") or ""


def _press_and_wait_for_next(page: Page, key: str) -> str:
    """Press a verdict key and wait until htmx has swapped in another sample."""
    before = _shown(page)
    page.keyboard.press(key)
    expect(page.locator("#card")).not_to_have_attribute("data-sample", before)
    return _shown(page)


def test_expert_reviews_five_samples_with_the_keyboard_alone(open_page, live_server, project, expert, samples):
    page = open_page(expert)
    _open_queue(page, live_server, project)
    assert _shown(page) == str(samples[0].pk)

    _press_and_wait_for_next(page, "c")
    page.keyboard.press("2")
    expect(page.locator('#verdict-form input[data-key="2"]')).to_be_checked()
    _press_and_wait_for_next(page, "w")
    _press_and_wait_for_next(page, "u")
    _press_and_wait_for_next(page, "c")
    shown = _press_and_wait_for_next(page, "c")

    assert shown == str(samples[5].pk)
    expect(page.get_by_test_id("saved")).to_contain_text(f"Saved correct on sample {samples[4].pk}")
    verdicts = {v.sample_id: (v.value, v.error_category) for v in Verdict.objects.filter(reviewer=expert)}
    assert verdicts == {
        samples[0].pk: ("correct", ""),
        samples[1].pk: ("wrong", "hallucination"),
        samples[2].pk: ("unsure", ""),
        samples[3].pk: ("correct", ""),
        samples[4].pk: ("correct", ""),
    }
    statuses = dict(Sample.objects.filter(project=project).values_list("id", "status"))
    assert [statuses[s.pk] for s in samples] == [
        SampleStatus.ACCEPTED,
        SampleStatus.REJECTED,
        SampleStatus.PENDING,
        SampleStatus.ACCEPTED,
        SampleStatus.ACCEPTED,
        SampleStatus.PENDING,
    ]
    assert page.errors.unexpected() == []


def test_expert_undoes_the_last_verdict_and_sees_the_sample_again(open_page, live_server, project, expert, samples):
    page = open_page(expert)
    _open_queue(page, live_server, project)
    _press_and_wait_for_next(page, "c")
    page.keyboard.press("1")
    _press_and_wait_for_next(page, "w")
    assert Sample.objects.get(pk=samples[1].pk).status == SampleStatus.REJECTED

    shown = _press_and_wait_for_next(page, "z")

    assert shown == str(samples[1].pk)
    expect(page.get_by_test_id("saved")).to_contain_text(f"sample {samples[1].pk} is back")
    expect(page.get_by_test_id("sample-status")).to_have_text("Pending")
    assert not Verdict.objects.filter(sample=samples[1], reviewer=expert).exists()
    assert Sample.objects.get(pk=samples[1].pk).status == SampleStatus.PENDING
    # Only the last verdict is undone.
    assert Verdict.objects.get(sample=samples[0], reviewer=expert).value == "correct"
    assert Sample.objects.get(pk=samples[0].pk).status == SampleStatus.ACCEPTED
    assert page.errors.unexpected() == []


def test_shortcuts_never_fire_while_the_expert_types_a_note(open_page, live_server, project, expert, samples):
    page = open_page(expert)
    _open_queue(page, live_server, project)
    note = "c w u z 1 2 j k n: the answer is right, but c w u z are not keys here"

    page.keyboard.press("n")
    expect(page.locator("#note")).to_be_focused()
    page.keyboard.type(note)
    page.keyboard.press("Escape")
    expect(page.locator("#note")).not_to_be_focused()
    assert _shown(page) == str(samples[0].pk)
    assert not Verdict.objects.exists()
    _press_and_wait_for_next(page, "c")

    verdict = Verdict.objects.get()
    assert (verdict.sample_id, verdict.value, verdict.error_category, verdict.note) == (
        samples[0].pk,
        "correct",
        "",
        note,
    )
    assert not AuditLog.objects.filter(action="verdict.undo").exists()
    assert page.errors.unexpected() == []


def test_question_mark_opens_the_shortcuts_list(open_page, live_server, project, expert, samples):
    page = open_page(expert)
    _open_queue(page, live_server, project)
    dialog = page.locator("dialog#shortcuts")
    expect(dialog).to_be_hidden()

    page.keyboard.press("?")

    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Undo your last verdict")
    # Keys do nothing behind the open list.
    page.keyboard.press("c")
    page.keyboard.press("?")
    expect(dialog).to_be_hidden()
    assert not Verdict.objects.exists()
    assert _shown(page) == str(samples[0].pk)
    assert page.errors.unexpected() == []
