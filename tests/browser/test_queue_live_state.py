"""The review queue as a reviewer sees it live: the pending count drops with each verdict, no swap
breaks the Content Security Policy, and the queue works on a 390 px phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from generation.models import Sample
from tests.browser.conftest import make_sample

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records every CSP violation the page reports, whatever the console says about it.
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + (event.sample || ""));
});
"""
PHONE = {"width": 390, "height": 844}
# Apple's and WCAG 2.5.5's touch target, less a pixel of rounding.
TAP_PX = 43.5


@pytest.fixture
def samples(project, generator) -> list[Sample]:
    return [make_sample(project, generator, f"What is {n} + {n}?", str(2 * n)) for n in range(1, 6)]


def _watched_page(open_page, user) -> tuple[Page, list[str]]:
    page = open_page(user)
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.add_init_script(WATCH_CSP)
    return page, console


def _csp_problems(page: Page, console: list[str]) -> list[str]:
    return [text for text in console if "Content Security Policy" in text] + page.evaluate("window.__cspViolations")


def _verdict(page: Page, key: str) -> None:
    before = page.locator("#card").get_attribute("data-sample")
    page.keyboard.press(key)
    expect(page.locator("#card")).not_to_have_attribute("data-sample", before or "")


def test_keyboard_verdicts_lower_the_pending_count_without_breaking_the_csp(
    open_page, live_server, project, expert, samples
):
    page, console = _watched_page(open_page, expert)
    page.goto(f"{live_server.url}/p/{project.slug}/queue/")
    pending = page.get_by_test_id("queue-pending")
    expect(pending).to_have_text("5 samples pending in this project")

    _verdict(page, "c")
    expect(pending).to_have_text("4 samples pending in this project")
    page.keyboard.press("2")
    _verdict(page, "w")
    expect(pending).to_have_text("3 samples pending in this project")
    # Unsure leaves the sample pending for someone else: the count stays.
    _verdict(page, "u")
    expect(pending).to_have_text("3 samples pending in this project")
    _verdict(page, "c")
    expect(pending).to_have_text("2 samples pending in this project")
    # Undo puts the last decided sample back among the pending.
    _verdict(page, "z")
    expect(pending).to_have_text("3 samples pending in this project")

    assert _csp_problems(page, console) == []
    assert page.errors.unexpected() == []


def test_the_queue_fits_a_390px_phone_and_its_controls_are_big_enough_to_tap(
    open_page, live_server, project, expert, generator
):
    # An unbroken run of characters (a URL, a hash) is what pushes a narrow page sideways.
    make_sample(project, generator, "Explain " + "https://example.org/" + "a" * 160, "b" * 200)
    make_sample(project, generator, "What is 2 + 2?", "4")
    page, console = _watched_page(open_page, expert)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/p/{project.slug}/queue/")
    expect(page.locator("#verdict-form")).to_be_visible()

    widths = page.evaluate(
        """() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,
                  document.querySelector("main").scrollWidth, document.querySelector("main").clientWidth]"""
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
    controls = page.locator("#card .verdict-button, #card .pager a, #card label.category, #card .undo-form button")
    assert controls.count() == 3 + 2 + 7 + 1
    small = [
        f"{controls.nth(i).inner_text()!r}: {box['height']:.0f} px"
        for i in range(controls.count())
        if (box := controls.nth(i).bounding_box()) is not None and box["height"] < TAP_PX
    ]
    assert small == []
    buttons = page.locator("#card .verdict-button")
    boxes = [buttons.nth(i).bounding_box() for i in range(3)]
    assert all(box is not None and 0 <= box["x"] and box["x"] + box["width"] <= PHONE["width"] for box in boxes)

    # A click on the button gives the verdict as the key does.
    buttons.first.click()
    expect(page.get_by_test_id("saved")).to_contain_text("Saved correct")
    expect(page.get_by_test_id("queue-pending")).to_have_text("1 sample pending in this project")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert _csp_problems(page, console) == []


def test_an_empty_project_s_queue_tells_a_lead_how_to_fill_it_on_a_phone(open_page, live_server, project, lead):
    page, console = _watched_page(open_page, lead)
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/p/{project.slug}/queue/")
    empty = page.get_by_test_id("queue-empty")
    expect(empty).to_contain_text("No samples yet")
    expect(empty).not_to_contain_text("Every pending sample has your verdict")
    empty.get_by_role("link", name="Import samples").click()
    expect(page).to_have_url(f"{live_server.url}/p/{project.slug}/imports/new/")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert _csp_problems(page, console) == []
