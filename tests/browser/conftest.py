"""Playwright on Debian's Chromium against pytest-django's live_server.

One browser for the browser tests; each test opens its own contexts (one per
user) through `open_page`, which logs in on the real log-in page. Every page
records its console errors, page errors and dialogs; a failing test leaves a
full-page screenshot of each of its pages in test-artifacts/screenshots/failures/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    sync_playwright,
)

from generation.hashing import content_hash
from generation.models import Generator, Sample, SampleStatus
from synthreview.projects.models import Project
from synthreview.projects.services.counters import sample_count_add
from tests.conftest import PASSWORD
from tests.integration.conftest import celery_worker_process  # noqa: F401  (browser tests that need a real worker)

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FAILURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "failures"
# Generous for a shared two-core machine; a passing step takes well under a second.
TIMEOUT_MS = 15_000


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


# Package scope: one browser for every browser test, closed before the rest of the
# suite runs, so the running loop and the flag below never reach other tests.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API keeps an asyncio loop running on this thread while the
    # browser is open, and Django refuses ORM calls beside a running loop; the
    # tests' ORM calls (fixtures, assertions, the flush after each test) are plain sync code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def fast_password_hashing(settings) -> None:
    """Every test logs in at least once; the default hasher would cost seconds each time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class PageErrors:
    """What went wrong inside one page: console errors, uncaught exceptions, dialogs."""

    console: list[str] = field(default_factory=list)
    uncaught: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def unexpected(self, *, allow: tuple[str, ...] = ()) -> list[str]:
        console = [text for text in self.console if not any(pattern in text for pattern in allow)]
        return console + self.uncaught + [f"dialog: {text}" for text in self.dialogs]


def _watch(page: Page) -> PageErrors:
    errors = PageErrors()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.console.append(f"{message.text} ({message.location.get('url', '')})")

    def on_dialog(dialog: Dialog) -> None:
        errors.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.uncaught.append(f"page error: {error}"))
    page.on("dialog", on_dialog)
    return errors


def log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def nav_to(page: Page, menu: str, link: str) -> None:
    """Follow a link of the top navigation as a user does: open its menu ("Review", "Data", or the
    account menu, named by the user's name), then click the link."""
    page.locator("header.topbar summary").filter(has_text=re.compile(rf"^{re.escape(menu)}")).click()
    page.locator("header.topbar").get_by_role("link", name=link, exact=True).click()


@pytest.fixture
def open_page(browser: Browser, live_server, request: pytest.FixtureRequest) -> Iterator[Callable[..., Page]]:
    """open_page(user) -> a page logged in as user (None: anonymous), in a context of its own.

    page.errors holds the page's console errors, uncaught errors and dialogs."""
    opened: list[tuple[str, Page]] = []
    contexts = []

    def make(user=None) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        # The app has no favicon; Chromium's own request for one is not the page's error.
        context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
        contexts.append(context)
        page = context.new_page()
        page.errors = _watch(page)  # type: ignore[attr-defined]  # a test-only attribute on the Playwright page, read by the fixtures that follow
        opened.append((user.username if user else "anonymous", page))
        if user is not None:
            log_in(page, live_server.url, user.username)
        return page

    yield make
    failed = any(getattr(getattr(request.node, f"report_{when}", None), "failed", False) for when in ("setup", "call"))
    if failed:
        FAILURES.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name)
        for index, (username, page) in enumerate(opened):
            suffix = "" if index == 0 else f"-{index}-{username}"
            try:
                page.screenshot(path=str(FAILURES / f"{name}{suffix}.png"), full_page=True)
            except Error:
                pass
    for context in contexts:
        context.close()


@pytest.fixture
def page(open_page: Callable[..., Page]) -> Page:
    """A page of its own for this test, not logged in."""
    return open_page()


@pytest.fixture
def generator(project: Project) -> Generator:
    return Generator.objects.create(project=project, name="gpt-x", kind="imported")


def make_sample(
    project: Project,
    generator: Generator | None,
    input_text: str,
    output_text: str,
    *,
    label: str | None = None,
    status: str = SampleStatus.PENDING,
) -> Sample:
    """A sample as an import would store it, with the project's counters kept in step."""
    origin = "synthetic" if generator is not None else "real"
    sample = Sample.objects.create(
        project=project,
        origin=origin,
        generator=generator,
        input=input_text,
        output=output_text,
        label=label,
        status=status,
        content_hash=content_hash(input_text, output_text),
    )
    sample_count_add(project_id=project.pk, origin=origin, status=status, delta=1)
    return sample
