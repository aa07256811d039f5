"""The sample browser in Chromium: a chip removes its filter (the form follows), "clear all"
clears them, picking an order reorders the list and its next page, and at 390 px wide the
list fits the main column."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.sync_api import Page, expect

from reviews.models import SampleSimilarity
from tests.reviews.review_helpers import add_samples, cluster, generator

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def row_ids(page: Page) -> list[int]:
    return [
        int(value) for value in page.locator('#results input[name="ids"]').evaluate_all("els => els.map(e => e.value)")
    ]


@pytest.fixture
def browsable(project):
    careful, sloppy = generator(project, "careful-gpt"), generator(project, "sloppy-gpt")
    # Lengths 2..61 characters of output, made in shuffled order so length and id disagree.
    lengths = [(n * 17) % 60 for n in range(60)]
    samples = add_samples(project, 60, gen=careful, texts=[("", "w" * (2 + n)) for n in lengths])
    add_samples(project, 5, gen=sloppy)
    numbered = cluster(project, 16, samples[:4])
    SampleSimilarity.objects.filter(sample__in=samples[:4]).update(novelty=0.1)
    return careful, sloppy, numbered, samples


def test_removing_a_chip_drops_that_filter_alone_and_the_form_follows(browsable, project, open_page, lead, live_server):
    careful, _, numbered, samples = browsable
    page = open_page(lead)
    page.goto(
        f"{live_server.url}/p/{project.slug}/samples/?generator={careful.pk}&status=pending&cluster={numbered.pk}"
    )
    chips = page.get_by_test_id("chip")
    expect(chips).to_have_count(3)
    expect(page.locator('[data-filter="generator"]')).to_contain_text("Generator: careful-gpt")
    expect(page.locator('[data-filter="cluster"]')).to_contain_text("Cluster: #16")
    assert sorted(row_ids(page)) == sorted(s.pk for s in samples[:4])

    page.locator('[data-filter="cluster"]').click()
    expect(page.locator('[data-filter="cluster"]')).to_have_count(0)
    expect(chips).to_have_count(2)
    page.wait_for_url(re.compile(r"generator="))
    assert query(page) == {"generator": [str(careful.pk)], "status": ["pending"]}
    expect(page.locator("#id_generator")).to_have_value(str(careful.pk))
    expect(page.get_by_test_id("match-count")).to_have_text("60")

    page.locator('[data-filter="generator"]').click()
    expect(chips).to_have_count(1)
    expect(page.locator("#id_generator")).to_have_value("")
    expect(page.get_by_test_id("match-count")).to_have_text("65")
    assert query(page) == {"status": ["pending"]}

    page.get_by_test_id("clear-all").click()
    expect(page.get_by_test_id("chips")).to_have_count(0)
    expect(page.locator("#id_status")).to_have_value("")
    assert page.errors.unexpected() == []  # type: ignore[attr-defined]  # set by open_page


def test_picking_an_order_reorders_the_list_and_its_next_page(browsable, project, open_page, expert, live_server):
    careful, sloppy, _, samples = browsable
    page = open_page(expert)
    page.goto(f"{live_server.url}/p/{project.slug}/samples/?generator={careful.pk}")
    page.select_option("#id_sort", "longest")
    page.wait_for_url(re.compile(r"sort=longest"))
    longest_first = [s.pk for s in sorted(samples, key=lambda s: (len(s.output), s.pk), reverse=True)]
    expect(page.locator('#results input[name="ids"]').first).to_have_value(str(longest_first[0]))
    assert row_ids(page) == longest_first[:50]
    # The generator chip stays, and the order rides along on the next page's link.
    expect(page.locator('[data-filter="generator"]')).to_have_count(1)
    page.get_by_test_id("older").click()
    expect(page.locator('#results input[name="ids"]')).to_have_count(10)
    assert row_ids(page) == longest_first[50:]
    page.get_by_test_id("newer").click()
    expect(page.locator('#results input[name="ids"]')).to_have_count(50)
    assert row_ids(page) == longest_first[:50]
    assert page.errors.unexpected() == []  # type: ignore[attr-defined]  # set by open_page


@pytest.mark.parametrize("width", [390, 1440])
def test_the_filtered_list_fits_the_window(browsable, project, open_page, lead, live_server, width):
    careful, _, numbered, _ = browsable
    page = open_page(lead)
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{live_server.url}/p/{project.slug}/samples/?generator={careful.pk}&status=pending&sort=shortest")
    expect(page.get_by_test_id("chip")).to_have_count(2)
    widths = page.evaluate(
        """() => { const main = document.querySelector("main"), root = document.scrollingElement;
                   return [main.scrollWidth, main.clientWidth, root.scrollWidth, root.clientWidth]; }"""
    )
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"sample-browser-filtered-{width}.png"))
