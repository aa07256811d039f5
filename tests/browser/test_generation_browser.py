"""Issue 7's must-show, in Chromium: a lead defines a run with two generators and
a temperature grid, previews it (nothing is called), launches it against the
OpenAI-compatible test server, watches a real Celery worker make progress, and
finds the samples, with their check flags, on the run page, in the sample
browser and in the review queue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from generation.models import GenerationRun, Sample, SampleFlag
from tests.generation.run_helpers import openai_generator, topic_template
from tests.llm_server import start_llm_server

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TOPICS = ["green tea", "[[empty]] clocks", "[[finish:length]] owls", "[[refuse]] locks", "rivers"]
TEMPERATURES = [0.2, 0.9]


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


@pytest.fixture
def slow_server():
    # Slow enough that the run takes several seconds, so there is progress to watch.
    server = start_llm_server(latency_ms=350)
    yield server
    server.stop()


def test_a_lead_defines_previews_launches_and_watches_a_run(
    generation_worker_env, celery_worker_process, open_page, live_server, project, lead, slow_server, tmp_path
):
    version = topic_template(project, "Write three sentences about {{ topic }}.")
    openai_generator(project, "alpha", slow_server.base_url, model_name="model-alpha", concurrency=1)
    openai_generator(project, "beta", slow_server.base_url, model_name="model-beta", concurrency=1)
    table = tmp_path / "topics.csv"
    table.write_text("topic\n" + "\n".join(TOPICS) + "\n")

    page = open_page(lead)
    page.goto(f"{live_server.url}/p/{project.slug}/runs/")
    page.get_by_role("link", name="New run").click()
    page.get_by_label("Name").fill("two-models")
    page.get_by_label("Template version").select_option(label=f"topics v{version.version} (text)")
    page.get_by_role("checkbox", name=re.compile("alpha")).check()
    page.get_by_role("checkbox", name=re.compile("beta")).check()
    page.get_by_label("Temperatures").fill(", ".join(str(t) for t in TEMPERATURES))
    page.get_by_label("Variable table").set_input_files(str(table))
    page.get_by_label("Constraints").fill("length: short, long")

    page.get_by_role("button", name="Preview").click()
    preview = page.get_by_test_id("preview")
    items = len(TOPICS) * 2 * len(TEMPERATURES)
    expect(preview.get_by_test_id("item-count")).to_have_text(str(items))
    expect(preview.get_by_test_id("prompt-preview").first).to_contain_text("Write three sentences about green tea.")
    # Three of the five rows get "short" (the remainder goes to the first value), two get "long".
    expect(preview.get_by_text("Keep the answer under 50 words.")).to_have_count(3)
    _screenshot(page, "run-preview.png")
    # A preview spends nothing: no run, no call.
    assert GenerationRun.objects.count() == 0 and len(slow_server.requests) == 0

    page.get_by_role("button", name="Launch").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    counts = page.get_by_test_id("run-counts")
    seen = set()
    for _ in range(120):
        text = counts.inner_text()
        seen.add(text)
        if page.get_by_test_id("run-state").inner_text() == "Completed":
            break
        page.wait_for_timeout(250)
    expect(page.get_by_test_id("run-state")).to_have_text("Completed")
    expect(counts).to_have_text(f"{items} done · 0 failed · 0 pending of {items} items")
    # The page moved through partial counts on its own while the worker ran.
    partial = [t for t in seen if re.match(r"(\d+) done", t) and 0 < int(re.match(r"(\d+)", t).group(1)) < items]
    assert partial, f"no progress seen between start and finish: {seen}"
    flags = page.get_by_test_id("run-flags")
    for check in ("empty", "truncated", "refusal"):
        expect(flags).to_contain_text(check)
    _screenshot(page, "run-detail.png")

    run = GenerationRun.objects.get(name="two-models")
    # The empty and the refusing answers are fixed texts, the same at both temperatures: each
    # generator keeps one sample of each, not two.
    assert Sample.objects.filter(run=run).count() == items - 2 * 2
    assert SampleFlag.objects.filter(sample__run=run, check_name="refusal").count() == 2

    # The flag's link opens the sample browser filtered to that check.
    flags.get_by_role("link", name="empty").click()
    expect(page).to_have_url(re.compile(r"flag=empty"))
    expect(page.locator("tbody tr")).to_have_count(2)

    # In the review queue, flagged first: the first card is a flagged sample of this run, with its reason.
    page.goto(f"{live_server.url}/p/{project.slug}/queue/?order=flagged")
    badge = page.locator(".flag-badge").first
    expect(badge).to_be_visible()
    assert badge.inner_text() in {"empty", "truncated", "refusal"}
    _screenshot(page, "queue-flagged-generated.png")
