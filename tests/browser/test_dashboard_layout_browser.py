"""In Chromium, at a desktop's 1,440 px and a phone's 390 px: every quality figure of the
dashboard is on screen without sideways scrolling, the summary's links lead to the figure
that slipped, and snoozing every alert quiets the banner on the next page."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from reviews.models import Alert, QualitySnapshot, SnapshotScope
from reviews.selectors.dashboard import METRIC_COLUMNS
from tests.reviews.review_helpers import generator, run, template_version

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR", Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots")
)
# Scope names as long as real ones get, so the tables are measured at their widest.
LONG_NAMES = ["direct-careful-parrot-echo-with-a-longer-name", "quiz-sloppy-parrot", "story-careful-sloppy"]
# A value for every column: shares in percent columns, distances elsewhere; length KS past its limit.
FIGURES = {metric: (0.123456 if percent else 12.345678) for metric, _, percent in METRIC_COLUMNS}
FIGURES["length_distance"] = 0.87654


@pytest.fixture
def full_dashboard(project, lead):
    version = template_version(project)
    gens = [generator(project, name) for name in LONG_NAMES]
    runs = [run(project, f"run-{name}", version, gen) for name, gen in zip(LONG_NAMES, gens)]
    now = timezone.now()
    rows = [(SnapshotScope.PROJECT, None, "All synthetic samples")]
    rows += [(SnapshotScope.RUN, r.pk, r.name) for r in runs]
    rows += [(SnapshotScope.GENERATOR, g.pk, g.name) for g in gens]
    QualitySnapshot.objects.bulk_create(
        QualitySnapshot(
            project=project,
            scope=scope,
            scope_id=scope_id,
            scope_label=label,
            computed_at=now,
            sample_count=123456,
            metrics=FIGURES,
        )
        for scope, scope_id, label in rows
    )
    for index, (scope, scope_id, label) in enumerate(rows):
        for metric in ("length_distance", "copy_share", "drift"):
            Alert.objects.create(
                project=project,
                metric=metric,
                scope_key=f"{scope}:{scope_id or 0}",
                scope_label=f"{scope} “{label}”",
                value=0.9,
                limit=0.25,
                message=f"A figure for {scope} “{label}” is 0.900, above the limit of 0.250.",
                notified_at=now,
                sent_to=[{"channel": "email", "to": [f"lead-{index}@example.org", "quality-team@example.org"]}],
            )
    return project


def _overflow(page: Page) -> dict:
    return page.evaluate(
        """() => {
            const main = document.querySelector('main');
            const card = document.querySelector('[data-testid="metrics-table"]');
            const right = card.getBoundingClientRect().right;
            const cells = [...card.querySelectorAll('td, th')];
            return {
                main: [main.scrollWidth, main.clientWidth],
                card: [card.scrollWidth, card.clientWidth],
                page: [document.documentElement.scrollWidth, window.innerWidth],
                cellsPastCard: cells.filter(c => c.getBoundingClientRect().right > right + 1).length,
                cellsPastWindow: cells.filter(c => c.getBoundingClientRect().right > window.innerWidth).length,
                cells: cells.length,
            };
        }"""
    )


@pytest.mark.parametrize("width", [1440, 390])
def test_every_quality_figure_fits_without_sideways_scrolling(width, open_page, live_server, full_dashboard, lead):
    page = open_page(lead)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/p/{full_dashboard.slug}/dashboard/")
    card = page.get_by_test_id("metrics-table")
    expect(card).to_be_visible()
    # Every column's name is in the card: none was dropped to make it fit.
    for _, label, _ in METRIC_COLUMNS:
        expect(card).to_contain_text(label)

    sizes = _overflow(page)

    assert sizes["cells"] > 0
    assert sizes["main"][0] <= sizes["main"][1], f"the main column overflows at {width} px: {sizes}"
    assert sizes["card"][0] <= sizes["card"][1], f"the metrics card overflows at {width} px: {sizes}"
    assert sizes["cellsPastCard"] == 0 and sizes["cellsPastWindow"] == 0, sizes
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-{width}.png"), full_page=True)
    assert not [e for e in page.errors.unexpected() if "Content Security Policy" in e or "Refused" in e]
    assert page.errors.unexpected() == []


def test_the_summary_links_to_the_figure_that_slipped(open_page, live_server, full_dashboard, lead):
    page = open_page(lead)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server.url}/p/{full_dashboard.slug}/dashboard/")
    summary = page.get_by_test_id("dash-summary")
    expect(summary).to_contain_text("Length KS")
    expect(summary).to_contain_text("21 alerts open")

    summary.get_by_role("link", name="Length KS").click()

    assert page.url.endswith("#metrics-fidelity")
    fidelity = page.locator("#metrics-fidelity")
    expect(fidelity).to_be_in_viewport()
    expect(fidelity.locator("td.slipped").first).to_contain_text("0.877")


def test_snoozing_every_alert_on_a_phone_quiets_the_banner(open_page, live_server, full_dashboard, lead):
    page = open_page(lead)
    page.set_viewport_size({"width": 390, "height": 800})
    base = f"{live_server.url}/p/{full_dashboard.slug}"
    page.goto(f"{base}/audits/")
    banner = page.get_by_test_id("alert-banner")
    expect(banner).to_contain_text("21 alerts open.")
    banner.get_by_role("link").click()
    page.wait_for_url(f"{base}/dashboard/#alerts")
    expect(page.get_by_test_id("alert-total")).to_have_text("21 open")
    expect(page.get_by_test_id("alert-sent").first).to_contain_text("quality-team@example.org")

    page.locator("#alerts > .card-head").get_by_role("button", name="7 days").click()

    expect(page.get_by_test_id("alert-total")).to_have_text("0 open")
    expect(page.get_by_test_id("no-alerts")).to_be_visible()
    page.goto(f"{base}/audits/")
    expect(page.get_by_test_id("alert-banner")).to_have_count(0)
    sizes = page.evaluate(
        "() => [document.querySelector('main').scrollWidth, document.querySelector('main').clientWidth]"
    )
    assert sizes[0] <= sizes[1]
