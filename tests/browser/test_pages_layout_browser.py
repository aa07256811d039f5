"""Every page, at a desktop's 1,440 px and a phone's 390 px: nothing runs off the side of the page or
of its main column, and the console reports no Content Security Policy violation and no uncaught error.

One project, seeded once for the module with something on every page (a long unbroken word among the
samples, so a page that cannot wrap it overflows), one live server and one logged-in browser context per
role; each page check opens a fresh tab in its role's context. The nav tests below drive the grouped
menus by mouse and keyboard, and the dark-scheme test reads the colours a dark browser gets."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import override_settings
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect
from pytest_django.live_server_helper import LiveServer

from generation.models import ImportBatch
from reviews.models import Alert, Cluster, QualitySnapshot, SnapshotScope
from synthreview.projects.models import Membership, Project, Role
from tests.browser.conftest import TIMEOUT_MS, log_in
from tests.conftest import PASSWORD, TEST_TARGET_MODELS
from tests.reviews.audit_helpers import audit_drawn
from tests.reviews.export_helpers import closed_run_audit, exported, synthetic_run
from tests.reviews.review_helpers import add_samples, cluster, generator, group, score, template_version

# The plain db mark makes pytest-django set the test database up; the seeding itself is committed by
# the module's fixture, and no test writes, so each test's rolled-back transaction holds nothing.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]

FAILURES = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "failures"
WIDTHS = (1440, 390)
SLUG = "layout"
# One word no browser may break on its own: a page shows it wrapped, or it runs off the side.
LONG_WORD = "supercalifragilistic" * 10
LONG_NAME = "a-generator-with-a-rather-long-name-from-an-imported-file"


@dataclass
class Site:
    url: str
    contexts: dict[str, BrowserContext]
    ids: dict[str, int] = field(default_factory=dict)


def _user(username: str, project: Project, role: str | None, *, superuser: bool = False):
    model = get_user_model()
    user = (
        model.objects.create_superuser(username=username, password=PASSWORD)
        if superuser
        else model.objects.create_user(username=username, password=PASSWORD)
    )
    if role is not None:
        Membership.objects.create(user=user, project=project, role=role)
    return user


def _seed() -> dict[str, int]:
    """A project with something on every page: runs, samples (pending ones with a long word), a group and
    clusters, a closed audit and an open one, snapshots and alerts, an import and an export."""
    project = Project.objects.create(
        slug=SLUG, name="Layout check: math word problems", target_models=TEST_TARGET_MODELS
    )
    lead = _user("lee-lead", project, Role.LEAD)
    expert = _user("erin-expert", project, Role.EXPERT)
    _user("ada-admin", project, Role.ADMIN)
    _user("sam-super", project, None, superuser=True)

    version = template_version(project, "arithmetic-word-problems")
    gen = generator(project, LONG_NAME)
    generation_run, _ = synthetic_run(project, "run-june", 12, gen=gen, template_version=version)
    closed = closed_run_audit(project, lead, expert, generation_run, size=10, wrong=2)
    pending = add_samples(
        project,
        6,
        gen=gen,
        template_version=version,
        texts=[(f"Tom has {n} boxes of {LONG_WORD}. How many?", f"{n} boxes, {LONG_WORD}") for n in range(6)],
    )
    real = add_samples(project, 4, origin="real", status="accepted", label="arithmetic")
    for index, sample in enumerate(pending + real):
        score(sample, 0.02 * index, neighbours=[[real[0].pk, 0.97]])
    group(project, pending[:3])
    cluster(project, 1, pending[3:], low=True, label=LONG_WORD)
    cluster(project, 2, real, label="real anchors")
    open_audit = audit_drawn(project, lead, size=10, seed=7)

    now = timezone.now()
    metrics = {
        "duplicate_share": 0.2,
        "distinct_2": 0.5,
        "vendi_score": 3.0,
        "copy_share": 0.0,
        "drift_previous": 0.1,
        "novelty_histogram": {"edges": [0.0, 0.5, 1.0], "counts": [4, 6]},
        "nearest_real": {"edges": [0.0, 0.5, 1.0], "counts": [7, 3], "copy_share": 0.0},
        "class_balance": [{"label": "arithmetic", "real": 4, "synthetic": 18, "synthetic_share": 0.8}],
        "mix": {"real": 4, "synthetic": 18},
    }
    for scope, scope_id, label in (
        (SnapshotScope.PROJECT, None, "All synthetic samples"),
        (SnapshotScope.GENERATOR, gen.pk, LONG_NAME),
    ):
        QualitySnapshot.objects.create(
            project=project,
            scope=scope,
            scope_id=scope_id,
            scope_label=label,
            computed_at=now,
            sample_count=18,
            metrics=metrics,
        )
    for index in range(5):
        Alert.objects.create(
            project=project,
            metric="duplicate_share",
            scope_key=f"generator:{index}",
            scope_label=f"{LONG_NAME}-{index}",
            value=0.2,
            limit=0.1,
            message=f"Duplicates: 20% for {LONG_NAME}-{index}.",
        )
    batch = ImportBatch.objects.create(
        project=project,
        file_name=f"{LONG_WORD}.jsonl",
        format="jsonl",
        status="completed",
        rows_read=10,
        rows_imported=10,
        created_by=lead,
        finished_at=now,
    )
    export = exported(project, lead)
    return {
        "sample": pending[0].pk,
        "run": generation_run.pk,
        "audit": closed.pk,
        "open_audit": open_audit.pk,
        "import": batch.pk,
        "export": export.pk,
        "cluster": Cluster.objects.get(project=project, number=1).pk,
    }


@pytest.fixture(scope="module")
def site(browser: Browser, django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[Site]:
    """The seeded project, served by a live server of this module's own (pytest-django's would flush
    the database after every test), with one logged-in context per user. The database is flushed
    when the module ends, as a transactional test leaves it."""
    data_dir = tmp_path_factory.mktemp("layout_data")
    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"], DATA_DIR=data_dir)
    with django_db_blocker.unblock(), fast:
        server = None
        contexts: dict[str, BrowserContext] = {}
        try:
            ids = _seed()
            server = LiveServer("localhost")
            server._live_server_modified_settings.enable()
            for username in ("lee-lead", "erin-expert", "ada-admin", "sam-super", None):
                context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
                context.set_default_timeout(TIMEOUT_MS)
                context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
                if username is not None:
                    page = context.new_page()
                    log_in(page, server.url, username)
                    page.close()
                contexts[username or "anonymous"] = context
            # Each test's own transaction (the db mark) must not lock SQLite against the server's writes
            # (the queue claims a sample): the settings' IMMEDIATE BEGIN takes the write lock at once,
            # a deferred one takes none for a test that writes nothing.
            previous_mode = getattr(connection, "transaction_mode", None)
            if connection.vendor == "sqlite":
                connection.transaction_mode = None
            yield Site(url=server.url, contexts=contexts, ids=ids)
            if connection.vendor == "sqlite":
                connection.transaction_mode = previous_mode
        finally:
            for context in contexts.values():
                context.close()
            if server is not None:
                server._live_server_modified_settings.disable()
                server.stop()
            call_command("flush", interactive=False, verbosity=0)
            # Opened beside Playwright's running loop, this connection is not the one the session's
            # teardown closes; left open, PostgreSQL refuses to drop the test database.
            connections.close_all()


# Each page: who opens it, and its path (given the seeded ids).
PAGES: dict[str, tuple[str, Callable[[dict[str, int]], str]]] = {
    "login": ("anonymous", lambda ids: "/accounts/login/"),
    "home": ("lee-lead", lambda ids: "/"),
    "project-new": ("sam-super", lambda ids: "/projects/new/"),
    "api-tokens": ("lee-lead", lambda ids: "/account/tokens/"),
    "project": ("lee-lead", lambda ids: f"/p/{SLUG}/"),
    "queue": ("erin-expert", lambda ids: f"/p/{SLUG}/queue/"),
    "audit-queue": ("erin-expert", lambda ids: f"/p/{SLUG}/queue/?audit={ids['open_audit']}"),
    "samples": ("lee-lead", lambda ids: f"/p/{SLUG}/samples/"),
    "samples-filtered": ("lee-lead", lambda ids: f"/p/{SLUG}/samples/?status=pending&cluster={ids['cluster']}"),
    "sample-detail": ("lee-lead", lambda ids: f"/p/{SLUG}/samples/{ids['sample']}/"),
    "similarity-groups": ("lee-lead", lambda ids: f"/p/{SLUG}/similarity/?tab=groups"),
    "similarity-clusters": ("lee-lead", lambda ids: f"/p/{SLUG}/similarity/?tab=clusters"),
    "similarity-map": ("lee-lead", lambda ids: f"/p/{SLUG}/similarity/?tab=map"),
    "similarity-search": ("lee-lead", lambda ids: f"/p/{SLUG}/similarity/search/"),
    "similarity-settings": ("lee-lead", lambda ids: f"/p/{SLUG}/similarity/settings/"),
    "runs": ("lee-lead", lambda ids: f"/p/{SLUG}/runs/"),
    "run-new": ("lee-lead", lambda ids: f"/p/{SLUG}/runs/new/"),
    "run-detail": ("lee-lead", lambda ids: f"/p/{SLUG}/runs/{ids['run']}/"),
    "templates": ("lee-lead", lambda ids: f"/p/{SLUG}/templates/"),
    "template-new": ("lee-lead", lambda ids: f"/p/{SLUG}/templates/new/"),
    "generators": ("lee-lead", lambda ids: f"/p/{SLUG}/generators/"),
    "generator-new": ("ada-admin", lambda ids: f"/p/{SLUG}/generators/new/"),
    "import-new": ("lee-lead", lambda ids: f"/p/{SLUG}/imports/new/"),
    "import-detail": ("lee-lead", lambda ids: f"/p/{SLUG}/imports/{ids['import']}/"),
    "audits": ("lee-lead", lambda ids: f"/p/{SLUG}/audits/"),
    "audit-detail": ("lee-lead", lambda ids: f"/p/{SLUG}/audits/{ids['audit']}/"),
    "noise-floor": ("lee-lead", lambda ids: f"/p/{SLUG}/noise-floor/"),
    "dashboard": ("lee-lead", lambda ids: f"/p/{SLUG}/dashboard/"),
    "alert-settings": ("lee-lead", lambda ids: f"/p/{SLUG}/alerts/settings/"),
    "eval-set": ("lee-lead", lambda ids: f"/p/{SLUG}/eval-set/"),
    "exports": ("lee-lead", lambda ids: f"/p/{SLUG}/exports/"),
    "export-detail": ("lee-lead", lambda ids: f"/p/{SLUG}/exports/{ids['export']}/"),
    "policy": ("ada-admin", lambda ids: f"/p/{SLUG}/policy/"),
    "members": ("ada-admin", lambda ids: f"/p/{SLUG}/members/"),
    "audit-log": ("lee-lead", lambda ids: f"/p/{SLUG}/audit-log/"),
    "not-found": ("lee-lead", lambda ids: f"/p/{SLUG}/runs/999999/"),
}

# The page's and the main column's widths, and the widest things past the viewport's right edge (to
# name the culprit in a failure).
MEASURE = """() => {
  const root = document.scrollingElement, main = document.querySelector("main");
  const limit = root.clientWidth, culprits = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    const spills = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "visible";
    if (box.width > 0 && el.checkVisibility() && (box.right > limit + 1 || spills)) {
      const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
        (typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\\s+/).join(".") : "");
      culprits.push(name + " right=" + Math.round(box.right) + (spills ? " holds " + el.scrollWidth : ""));
    }
  }
  return {
    page: [root.scrollWidth, root.clientWidth],
    main: main ? [main.scrollWidth, main.clientWidth] : [0, 0],
    culprits: culprits.slice(0, 20),
  };
}"""

CSP_WORDS = ("Content Security Policy", "Refused to")


def _open(site: Site, user: str, width: int) -> tuple[Page, list[str]]:
    """A new tab in the user's context at this width, recording CSP messages and uncaught errors."""
    page = site.contexts[user].new_page()
    page.set_viewport_size({"width": width, "height": 900})
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if any(word in message.text for word in CSP_WORDS):
            problems.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return page, problems


def _screenshot_on_failure(page: Page, name: str) -> None:
    FAILURES.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(FAILURES / f"layout-{name}.png"), full_page=True)
    except Error:
        pass


@pytest.mark.parametrize("width", WIDTHS, ids=[f"{w}px" for w in WIDTHS])
@pytest.mark.parametrize("name", list(PAGES))
def test_page_fits_its_width_and_breaks_no_content_security_rule(site: Site, name: str, width: int) -> None:
    user, path = PAGES[name]
    page, problems = _open(site, user, width)
    try:
        response = page.goto(site.url + path(site.ids))
        assert response is not None
        assert response.status == (404 if name == "not-found" else 200), f"{name} answered {response.status}"
        # Let htmx finish what the page asks for on load (hx-trigger="load", status polls).
        page.wait_for_function("() => !document.querySelector('.htmx-request')")
        measured = page.evaluate(MEASURE)
        scroll_width, client_width = measured["page"]
        main_scroll, main_client = measured["main"]
        failures = []
        if scroll_width > client_width:
            failures.append(f"the page is {scroll_width} px wide in a {client_width} px window")
        if main_scroll > main_client:
            failures.append(f"the main column holds {main_scroll} px in {main_client} px")
        failures += problems
        if failures:
            _screenshot_on_failure(page, f"{name}-{width}")
        assert not failures, f"{name} at {width} px: {failures}; past the right edge: {measured['culprits']}"
    finally:
        page.close()


def test_the_lead_nav_keeps_to_one_line_at_1440_and_marks_the_current_menu(site: Site) -> None:
    page, problems = _open(site, "lee-lead", 1440)
    page.goto(f"{site.url}/p/{SLUG}/noise-floor/")
    bar = page.locator("header.topbar")
    summaries = bar.locator("summary")
    expect(summaries).to_have_text(
        [re.compile(r"^Review"), "Similarity", "Quality", "Data", "Admin", re.compile("lee-lead")]
    )
    tops = {round(box["y"]) for box in (summaries.nth(i).bounding_box() for i in range(summaries.count())) if box}
    assert len(tops) == 1, f"the menus sit on {len(tops)} lines"
    assert (bar.bounding_box() or {"height": 999})["height"] < 60
    expect(bar.locator("summary[aria-current=true]")).to_have_text("Quality")
    expect(bar.locator("a[aria-current=page]")).to_have_count(1)
    expect(bar.locator("a[aria-current=page]")).to_have_text("Noise floor")
    assert problems == []
    page.close()


def test_an_expert_sees_only_the_menus_and_links_their_role_may_open(site: Site) -> None:
    page, _ = _open(site, "erin-expert", 1440)
    page.goto(f"{site.url}/p/{SLUG}/samples/")
    nav = page.locator("nav.project-nav")
    expect(nav.locator("summary")).to_have_text(["Review", "Similarity", "Data"])
    links = nav.locator("a").all_text_contents()
    assert links == ["Queue", "Samples", "Audits", "Similarity", "Search", "Runs", "Templates", "Generators"]
    page.close()


def test_menus_open_by_keyboard_close_on_escape_and_outside_click_and_fit_a_phone(site: Site) -> None:
    page, problems = _open(site, "lee-lead", 390)
    page.goto(f"{site.url}/p/{SLUG}/")
    data = page.locator("nav.project-nav details", has_text="Data")
    exports = data.get_by_role("link", name="Exports")
    expect(exports).to_be_hidden()

    data.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(exports).to_be_visible()
    box = data.locator("ul").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (
        f"the open menu runs off a phone: {box}"
    )
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390

    page.keyboard.press("Escape")
    expect(exports).to_be_hidden()
    expect(data.locator("summary")).to_be_focused()

    # Opening a second menu closes the first; a click elsewhere closes it too.
    data.locator("summary").click()
    page.locator("nav.project-nav summary", has_text="Review").click()
    expect(exports).to_be_hidden()
    queue = page.locator("nav.project-nav").get_by_role("link", name="Queue")
    expect(queue).to_be_visible()
    page.locator("main h1").click()
    expect(queue).to_be_hidden()

    # Tab reaches the links of an open menu, and Enter follows one.
    data.locator("summary").focus()
    page.keyboard.press("Enter")
    exports.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/p/{SLUG}/exports/$"))
    expect(page.locator("nav.project-nav summary[aria-current=true]")).to_have_text("Data")
    assert problems == []
    page.close()


def _luminance(css_colour: str) -> float:
    """Relative luminance of an rgb()/rgba() colour (WCAG 2.x)."""
    channels = [float(part) / 255 for part in re.findall(r"[\d.]+", css_colour)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(first: str, second: str) -> float:
    high, low = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_a_dark_browser_gets_dark_pages_whose_tables_and_charts_stay_readable(site: Site, browser: Browser) -> None:
    state = site.contexts["lee-lead"].storage_state()
    context = browser.new_context(color_scheme="dark", storage_state=state, viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{site.url}/p/{SLUG}/noise-floor/")
        colours = page.evaluate(
            """() => {
              const style = (el, prop) => getComputedStyle(el)[prop];
              const card = document.querySelector("main .card");
              const cell = document.querySelector("main table td");
              const label = [...document.querySelectorAll("svg.chart text")].find(t => !t.closest(".chart-segment"));
              return {
                body: style(document.body, "backgroundColor"), ink: style(document.body, "color"),
                card: style(card, "backgroundColor"), cell: style(cell, "color"),
                chartText: label ? style(label, "fill") : null,
              };
            }"""
        )
        assert _luminance(colours["body"]) < 0.05, colours
        assert _contrast(colours["ink"], colours["body"]) >= 7, colours
        assert _contrast(colours["cell"], colours["card"]) >= 4.5, colours
        assert colours["chartText"] is not None, "the noise floor page draws no chart"
        assert _contrast(colours["chartText"], colours["card"]) >= 4.5, colours
    finally:
        context.close()
