"""Sample text that looks like HTML or script is shown as text on every page that shows it,
the map's json_script block and its canvas tooltip included."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from generation.models import Generator, Sample
from reviews.models import (
    Cluster,
    DuplicateGroup,
    DuplicateGroupMember,
    EmbeddingMap,
    SampleSimilarity,
)
from reviews.services import verdict_record
from synthreview.projects.access import project_access
from tests.browser.conftest import make_sample
from tests.reviews.review_helpers import map_points

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(2)>"
BREAKOUT = "</script><script>alert(3)</script>"
MARKDOWN_LINK = "[click](javascript:alert(4))"
# The same projection map.js draws with (margin and canvas size in canvas pixels).
MAP_MARGIN = 12

# What sample text must never become: an <img src=x>, an inline handler, a
# javascript: link, a runnable <script> of its own, or a "<" inside a data block
# (json_script escapes it, so "</script>" cannot close the block).
INJECTED = """() => {
  const scripts = Array.from(document.scripts);
  const isData = script => script.type === "application/json";
  return {
    img: document.querySelectorAll('img[src="x"]').length,
    onerror: document.querySelectorAll("[onerror]").length,
    javascriptLinks: document.querySelectorAll('a[href^="javascript:" i]').length,
    scripts: scripts.filter(script => !isData(script) && script.text.includes("alert(")).length,
    dataBlocksWithTags: scripts.filter(script => isData(script) && script.text.includes("<")).length,
  };
}"""
CLEAN = {"img": 0, "onerror": 0, "javascriptLinks": 0, "scripts": 0, "dataBlocksWithTags": 0}


@pytest.fixture
def hostile(project, expert) -> dict[str, Sample]:
    generator = Generator.objects.create(project=project, name=f"gpt-x {IMG}", kind="imported")
    samples = {
        "a": make_sample(project, generator, f"{SCRIPT} What is 2 + 2?", f"{BREAKOUT}{IMG} 4", label=IMG),
        "b": make_sample(project, generator, f"{IMG} What is 2 + 3?", f"{MARKDOWN_LINK} {SCRIPT} 5", label=BREAKOUT),
        "c": make_sample(project, generator, f"{MARKDOWN_LINK} What is 2 + 4?", f"{SCRIPT} 6", label=SCRIPT),
        "real": make_sample(project, None, f"{BREAKOUT} What is 1 + 1?", f"{IMG} 2", label=MARKDOWN_LINK),
    }
    a, b, c, real = samples["a"], samples["b"], samples["c"], samples["real"]
    cluster = Cluster.objects.create(
        project=project,
        number=1,
        size=3,
        density=0.95,
        synthetic_share=1.0,
        real_anchor_distance=0.4,
        label=f"{SCRIPT} {IMG}",
        generator_mix={generator.name: 3},
        template_mix={BREAKOUT: 3},
        is_low_novelty=True,
        low_novelty_reason=f"dense {MARKDOWN_LINK}",
    )
    for sample, others in ((a, (b, c)), (b, (a, c)), (c, (a, b))):
        SampleSimilarity.objects.create(
            sample=sample,
            project=project,
            cluster=cluster,
            novelty=0.05,
            neighbours=[[other.pk, 0.97] for other in others] + [[real.pk, 0.8]],
            top_similarity=0.97,
            nearest_real=real,
            nearest_real_similarity=0.8,
        )
    group = DuplicateGroup.objects.create(
        project=project,
        kind="near",
        signature="b" * 64,
        size=3,
        min_similarity=0.96,
        threshold=0.95,
        representative=a,
        representative_reason=f"the oldest {SCRIPT}",
    )
    for sample, similarity in ((a, 1.0), (b, 0.97), (c, 0.96)):
        DuplicateGroupMember.objects.create(group=group, sample=sample, similarity=similarity)
    EmbeddingMap.objects.create(
        project=project,
        embedded_total=4,
        points=[[a.pk, 0.2, 0.3], [b.pk, 0.8, 0.7], [c.pk, 0.5, 0.9], [real.pk, 0.1, 0.9]],
    )
    verdict_record(
        project_access(expert, project), sample_id=b.pk, value="unsure", note=f"{SCRIPT} {IMG}", seen_revision=0
    )
    return samples


def _assert_shown_as_text(page: Page, *, literal: str = SCRIPT) -> None:
    assert literal in page.locator("body").inner_text(), page.url
    assert page.evaluate(INJECTED) == CLEAN, page.url
    assert page.errors.unexpected() == [], page.url


def _hover_map_point(page: Page, x: float, y: float) -> None:
    canvas = page.locator("#embedding-map")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    width, height = (int(canvas.get_attribute(side)) for side in ("width", "height"))
    at_x = MAP_MARGIN + x * (width - 2 * MAP_MARGIN)
    at_y = MAP_MARGIN + (1 - y) * (height - 2 * MAP_MARGIN)
    page.mouse.move(box["x"] + at_x * box["width"] / width, box["y"] + at_y * box["height"] / height)


def test_hostile_sample_text_is_shown_as_text_on_every_page(open_page, live_server, project, lead, hostile):
    page = open_page(lead)
    base = f"{live_server.url}/p/{project.slug}"
    a, b = hostile["a"], hostile["b"]

    page.goto(f"{base}/queue/?sample={a.pk}")
    expect(page.get_by_test_id("sample-input")).to_have_text(f"{SCRIPT} What is 2 + 2?")
    expect(page.get_by_test_id("sample-output")).to_have_text(f"{BREAKOUT}{IMG} 4")
    _assert_shown_as_text(page)

    page.goto(f"{base}/queue/?sample={b.pk}")
    expect(page.locator(".verdicts-line")).to_contain_text("erin-expert: unsure")
    _assert_shown_as_text(page, literal=BREAKOUT)

    for path in (
        f"/samples/{a.pk}/",
        f"/samples/{b.pk}/",
        "/samples/",
        f"/samples/?similar_to={a.pk}",
        "/similarity/?tab=groups",
        "/similarity/?tab=clusters",
    ):
        page.goto(base + path)
        _assert_shown_as_text(page)

    page.goto(f"{base}/similarity/?tab=map")
    # The page holds the points but no text: the hovered point's text is fetched.
    points = {p["id"]: p for p in map_points(page.content())}
    assert set(points) == {s.pk for s in hostile.values()} and "What is 2 + 2?" not in page.content()
    tooltip = page.locator("#map-tooltip")
    expect(tooltip).to_be_hidden()
    _hover_map_point(page, 0.2, 0.3)
    expect(tooltip).to_be_visible()
    expect(tooltip).to_contain_text(f"#{a.pk} · synthetic · gpt-x {IMG} · pending")
    expect(tooltip).to_contain_text(f"{SCRIPT} What is 2 + 2?")
    expect(tooltip).to_contain_text(f"{BREAKOUT}{IMG} 4")
    page.locator("#map-colour").select_option("origin")
    expect(page.locator("#map-legend")).to_contain_text("synthetic")
    _assert_shown_as_text(page)
    page.locator("#map-colour").select_option("generator")
    expect(page.locator("#map-legend")).to_contain_text(f"gpt-x {IMG}")
    _assert_shown_as_text(page)
