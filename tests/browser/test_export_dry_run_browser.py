"""Check only, in Chromium: a lead checks an export that the gates would refuse and reads each rule's
decision in words, with nothing added to the history; leaves the unaudited generator out, checks
again and sees it pass; then exports for real."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from generation.models import Origin
from reviews.models import Export
from synthreview.projects.models import AuditLog, Project
from tests.browser.conftest import log_in, nav_to
from tests.reviews.export_helpers import synthetic_run
from tests.reviews.review_helpers import add_samples, generator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def unaudited_run(project: Project):
    """Phase 1 (at least half real): 2 real and 8 synthetic samples of a run nobody audited."""
    project.phase = 1
    project.save(update_fields=["phase"])
    add_samples(project, 2, origin=Origin.REAL, status="accepted")
    gen = generator(project, "gen-unaudited")
    synthetic_run(project, "run-june", 8, gen=gen)
    return gen


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_check_only_shows_the_decisions_without_exporting(open_page, live_server, project, lead, unaudited_run):
    base = f"{live_server.url}/p/{project.slug}"
    logged = AuditLog.objects.count()
    page = open_page(lead)
    page.goto(f"{base}/")
    nav_to(page, "Data", "Exports")
    # htmx wires the button once the page has loaded.
    page.wait_for_url(f"{base}/exports/", wait_until="load")
    form = page.get_by_test_id("export-form")

    form.get_by_role("button", name="Check only").click()
    check = page.get_by_test_id("export-check")
    expect(check.get_by_test_id("check-verdict")).to_have_text("This export would be refused")
    decisions = check.get_by_test_id("check-decisions")
    expect(decisions.locator("tr[data-gate='recursion']")).to_contain_text(
        "No generator is related to the model being trained"
    )
    expect(decisions.locator("tr[data-gate='recursion']")).to_contain_text("Passed")
    audit_row = decisions.locator("tr[data-gate='audit']")
    expect(audit_row).to_contain_text("Every synthetic sample is cleared by an expert audit")
    expect(audit_row).to_contain_text("Refused")
    expect(audit_row).to_contain_text("run run-june (gen-unaudited: 8 samples)")
    mix_row = decisions.locator("tr[data-gate='mix']")
    expect(mix_row).to_contain_text("Enough real data, and no generator over its cap")
    expect(mix_row).to_contain_text("add 6 real samples")
    expect(check.get_by_test_id("check-counts")).to_have_text(
        "It would take 10 samples: 2 real and 8 synthetic (20.0% real)."
    )
    # htmx swapped the card in place: still the exports page, and nothing in the history.
    assert page.url == f"{base}/exports/"
    expect(page.get_by_test_id("export-table")).to_contain_text("No exports yet.")
    assert Export.objects.count() == 0 and AuditLog.objects.count() == logged
    _screenshot(page, "export_check_refused.png")
    page.set_viewport_size({"width": 390, "height": 844})
    _screenshot(page, "export_check_refused_390.png")
    page.set_viewport_size({"width": 1440, "height": 900})

    # Leave the unaudited generator out and check again: every rule holds.
    form.get_by_label("gen-unaudited").check()
    form.get_by_role("button", name="Check only").click()
    expect(check.get_by_test_id("check-verdict")).to_have_text("This export would pass")
    expect(check.get_by_test_id("held-excluded-generator")).to_contain_text(
        "Their generator was left out: gen-unaudited"
    )
    expect(check.get_by_test_id("held-excluded-generator").locator("td.num")).to_have_text("8")
    assert Export.objects.count() == 0

    # The real export, with the same options, completes.
    form.get_by_role("button", name="Export", exact=True).click()
    page.wait_for_url(f"{base}/exports/*/")
    export = Export.objects.get(project=project)
    assert list(export.excluded_generators.values_list("name", flat=True)) == ["gen-unaudited"]
    assert page.errors.unexpected() == []


def test_check_only_works_without_javascript(browser, live_server, project, lead, unaudited_run):
    base = f"{live_server.url}/p/{project.slug}"
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        log_in(page, live_server.url, lead.username)
        page.goto(f"{base}/exports/")
        page.get_by_test_id("export-form").get_by_role("button", name="Check only").click()
        # The form posts to the check's own address, which answers with the whole page and the decisions.
        page.wait_for_url(f"{base}/exports/check/")
        expect(page.get_by_test_id("check-verdict")).to_have_text("This export would be refused")
        expect(page.get_by_test_id("check-decisions").locator("tr[data-gate='audit']")).to_contain_text("Refused")
        expect(page.get_by_test_id("export-table")).to_contain_text("No exports yet.")
        assert Export.objects.count() == 0
    finally:
        context.close()
