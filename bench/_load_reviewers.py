"""The simulated reviewers of bench/load.py: each one a thread with its own logged-in session, speaking
HTTP/1.1 to the server as a browser behind the production TLS proxy would (X-Forwarded-Proto: https, the
Origin header on posts, htmx's headers where the page's scripts send them). No Django here: only what
the pages answer."""

from __future__ import annotations

import html
import http.client
import math
import random
import re
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import urlencode

# The queue's orders, taken in turn: each reviewer starts at another one, so the mix is the same at any
# number of reviewers.
ORDERS = ("oldest", "novelty", "flagged")
VERDICT_MIX = (("correct", 0.60), ("wrong", 0.25), ("unsure", 0.15))
VERDICTS_PER_ROUND = 2
# Filters a reviewer uses in the sample browser ({generator} is one of the project's generators).
BROWSER_FILTERS = (
    "status=pending&generator={generator}",
    "origin=real&status=pending",
    "verdict=wrong&generator={generator}",
    "flag=any",
)
BROWSER_PAGES = 2  # "older →" pages followed after the first
BROWSE_EVERY = 3  # rounds

QUEUE_PAGE = "queue page"
QUEUE_CARD = "queue, next card (htmx)"
VERDICT = "verdict POST (htmx)"
SAMPLE_DETAIL = "sample detail"
BROWSER = "browser, filtered"
BROWSER_OLDER = "browser, older page (htmx)"
DASHBOARD = "dashboard (the lead)"
PAGES = (QUEUE_PAGE, VERDICT, QUEUE_CARD, SAMPLE_DETAIL, BROWSER, BROWSER_OLDER, DASHBOARD)

_SAMPLE = re.compile(rb'data-sample="(\d*)"')
_ACTION = re.compile(rb'id="verdict-form" method="post" action="([^"]+/queue/(\d+)/verdict/)"')
_REVISION = re.compile(rb'name="revision" value="(\d+)"')
_CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')
_CATEGORY = re.compile(rb'name="error_category" value="([^"]+)"')
_NEXT = re.compile(rb'id="next-link" href="([^"]+)"')
_OLDER = re.compile(rb'<a href="\?([^"]+)" hx-get="[^"]*" data-testid="older"')
_ROW = b'name="ids" value='
# What synthreview.middleware.ServerTimingMiddleware adds when the server runs with SERVER_TIMING on.
_SERVER_CPU = re.compile(r"cpu;dur=([0-9.]+)")


class Stop(Exception):
    """The phase's time is up."""


@dataclass
class Card:
    """The queue card as the page shows it: the sample, its revision and the verdict form."""

    sample_id: int
    revision: int
    action: str
    csrf: str
    categories: list[str]
    next_url: str


@dataclass
class PageFigures:
    times_ms: list[float] = field(default_factory=list)
    # The server's CPU time per request (its Server-Timing header), where it sent one.
    cpu_ms: list[float] = field(default_factory=list)
    errors: int = 0
    conflicts: int = 0  # 409 on a verdict: another reviewer changed the sample first
    problems: list[str] = field(default_factory=list)

    def add(self, other: PageFigures) -> None:
        self.times_ms += other.times_ms
        self.cpu_ms += other.cpu_ms
        self.errors += other.errors
        self.conflicts += other.conflicts
        self.problems += other.problems[: max(0, 5 - len(self.problems))]

    @property
    def requests(self) -> int:
        return len(self.times_ms)

    def percentile(self, share: float) -> float:
        """Nearest rank, as bench/pages.py takes it."""
        return nearest_rank(self.times_ms, share)

    def cpu_percentile(self, share: float) -> float:
        return nearest_rank(self.cpu_ms, share)


def nearest_rank(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)] if ordered else float("nan")


@dataclass
class Ledger:
    """Verdicts the server acknowledged (2xx), by (reviewer id, sample id): the value last sent."""

    sent: dict[tuple[int, int], str] = field(default_factory=dict)
    acknowledged: int = 0
    unanswered: int = 0  # a verdict POST that raised: the server may or may not have stored it
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, reviewer_id: int, sample_id: int, value: str) -> None:
        with self.lock:
            self.sent[(reviewer_id, sample_id)] = value
            self.acknowledged += 1


class Session:
    """One browser: its own connection and cookies (the session, the CSRF cookie)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookies: dict[str, str] = {}
        self.server_cpu_ms: float | None = None  # the last answer's

    def request(
        self, method: str, path: str, *, form: dict[str, str] | None = None, htmx: bool = False, csrf: str = ""
    ) -> tuple[int, bytes]:
        # The production proxy terminates TLS and says so; the cookies are Secure, so they are kept by hand.
        headers = {"X-Forwarded-Proto": "https", "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        if htmx:
            headers |= {"HX-Request": "true", "HX-Current-URL": self.origin + path}
        body = None
        if form is not None:
            body = urlencode(form)
            headers |= {"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin}
            if csrf:
                headers["X-CSRFToken"] = csrf
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            self.connection.close()  # the next request opens a fresh connection
            raise
        timing = _SERVER_CPU.search(response.headers.get("Server-Timing") or "")
        self.server_cpu_ms = float(timing.group(1)) if timing else None
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return response.status, content

    def log_in(self, username: str, password: str) -> None:
        status, page = self.request("GET", "/accounts/login/")
        token = _CSRF.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"the login page answered {status} without a form")
        status, _ = self.request(
            "POST",
            "/accounts/login/",
            form={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1).decode()},
        )
        if status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"{username} could not log in: {status}")


class Reviewer:
    """Works the review queue in rounds: opens the queue page, gives VERDICTS_PER_ROUND verdicts with the
    card's form (on a conflict, skips to the next card as `j` does), opens the last sample's page, and
    every BROWSE_EVERY rounds lists samples with a filter and follows its "older" pages; a lead then
    opens the dashboard too."""

    def __init__(
        self,
        *,
        index: int,
        user_id: int,
        session: Session,
        slug: str,
        generator_ids: list[int],
        ledger: Ledger,
        lead: bool = False,
    ) -> None:
        self.index, self.user_id, self.session, self.lead = index, user_id, session, lead
        self.base = f"/p/{slug}"
        self.generator_ids = generator_ids
        self.ledger = ledger
        self.rng = random.Random(index)
        self.figures = {page: PageFigures() for page in PAGES}
        self.round = 0
        self.think_s = 0.0
        self.until = 0.0

    def work(self, *, until: float, think_s: float) -> dict[str, PageFigures]:
        """Rounds until `until` (time.monotonic()); returns this phase's figures."""
        self.figures = {page: PageFigures() for page in PAGES}
        self.until, self.think_s = until, think_s
        try:
            while True:
                self._round()
        except Stop:
            pass
        return self.figures

    def _round(self) -> None:
        order = ORDERS[(self.index + self.round) % len(ORDERS)]
        self.round += 1
        card = self._card(QUEUE_PAGE, f"{self.base}/queue/?order={order}")
        sample_id = card.sample_id if card else None
        for _ in range(VERDICTS_PER_ROUND):
            if card is None:
                break
            sample_id = card.sample_id
            card = self._verdict(card, order)
        if sample_id is not None:
            self._get(SAMPLE_DETAIL, f"{self.base}/samples/{sample_id}/", expect=f"Sample #{sample_id}<".encode())
        if self.round % BROWSE_EVERY == 0:
            self._browse()
            if self.lead:
                self._get(DASHBOARD, f"{self.base}/dashboard/", expect=b"<h1>Dashboard</h1>")

    def _timed(
        self,
        page: str,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        htmx: bool = False,
        csrf: str = "",
    ) -> tuple[int, bytes] | None:
        if self.think_s:
            time.sleep(self.rng.uniform(0.5, 1.5) * self.think_s)
        if time.monotonic() >= self.until:
            raise Stop
        started = time.perf_counter()
        try:
            status, content = self.session.request(method, path, form=form, htmx=htmx, csrf=csrf)
        except (OSError, http.client.HTTPException) as error:
            self.figures[page].times_ms.append((time.perf_counter() - started) * 1000)
            self._problem(page, f"{method} {path}: {error!r}")
            if page == VERDICT:
                with self.ledger.lock:
                    self.ledger.unanswered += 1
            return None
        self.figures[page].times_ms.append((time.perf_counter() - started) * 1000)
        if self.session.server_cpu_ms is not None:
            self.figures[page].cpu_ms.append(self.session.server_cpu_ms)
        if page == VERDICT and status == 409:
            self.figures[page].conflicts += 1
        elif not 200 <= status < 400:
            self._problem(page, f"{method} {path}: {status}")
            return None
        return status, content

    def _problem(self, page: str, text: str) -> None:
        self.figures[page].errors += 1
        if len(self.figures[page].problems) < 5:
            self.figures[page].problems.append(text)

    def _get(self, page: str, path: str, *, expect: bytes, htmx: bool = False) -> bytes | None:
        answer = self._timed(page, "GET", path, htmx=htmx)
        if answer is None:
            return None
        if expect not in answer[1]:
            self._problem(page, f"GET {path}: no {expect.decode()!r} in the page")
            return None
        return answer[1]

    def _card(self, page: str, path: str, *, htmx: bool = False) -> Card | None:
        answer = self._timed(page, "GET", path, htmx=htmx)
        if answer is None:
            return None
        card = parse_card(answer[1])
        if card is None:
            self._problem(page, f"GET {path}: no sample card")
        return card

    def _verdict(self, card: Card, order: str) -> Card | None:
        value = self.rng.choices([v for v, _ in VERDICT_MIX], [w for _, w in VERDICT_MIX])[0]
        form = {
            "csrfmiddlewaretoken": card.csrf,
            "revision": str(card.revision),
            "order": order,
            "time_spent_ms": str(int(self.think_s * 1000)),
            "error_category": self.rng.choice(card.categories) if value != "correct" and card.categories else "",
            "note": "",
            "value": value,
        }
        answer = self._timed(VERDICT, "POST", card.action, form=form, htmx=True, csrf=card.csrf)
        if answer is None:
            return None
        status, content = answer
        if status == 409:
            # Someone else changed the sample first: the reviewer moves on, as `j` does.
            conflict = parse_card(content)
            return self._card(QUEUE_CARD, conflict.next_url, htmx=True) if conflict else None
        self.ledger.record(self.user_id, card.sample_id, value)
        following = parse_card(content)
        if following is None:
            self._problem(VERDICT, f"POST {card.action}: {status} without the next card")
        return following

    def _browse(self) -> None:
        query = self.rng.choice(BROWSER_FILTERS).format(generator=self.rng.choice(self.generator_ids))
        content = self._get(BROWSER, f"{self.base}/samples/?{query}", expect=_ROW)
        for _ in range(BROWSER_PAGES):
            older = _OLDER.search(content) if content else None
            if older is None:
                return
            path = f"{self.base}/samples/?{html.unescape(older.group(1).decode())}"
            content = self._get(BROWSER_OLDER, path, expect=_ROW, htmx=True)


def parse_card(content: bytes) -> Card | None:
    sample = _SAMPLE.search(content)
    action, revision, csrf, next_link = (
        _ACTION.search(content),
        _REVISION.search(content),
        _CSRF.search(content),
        _NEXT.search(content),
    )
    if not (sample and sample.group(1) and action and revision and csrf and next_link):
        return None
    return Card(
        sample_id=int(action.group(2)),
        revision=int(revision.group(1)),
        action=html.unescape(action.group(1).decode()),
        csrf=csrf.group(1).decode(),
        categories=[c.decode() for c in _CATEGORY.findall(content)],
        next_url=html.unescape(next_link.group(1).decode()),
    )


def run_phase(reviewers: list[Reviewer], *, seconds: float, think_s: float) -> dict[str, PageFigures]:
    """The reviewers at once, one thread each, for `seconds`; their figures merged per page."""
    until = time.monotonic() + seconds
    results: list[dict[str, PageFigures]] = []
    lock = threading.Lock()

    failures: list[BaseException] = []

    def work(reviewer: Reviewer) -> None:
        try:
            figures = reviewer.work(until=until, think_s=think_s)
        except BaseException as error:  # a bug in the bench: raised again below, never a silent thread
            with lock:
                failures.append(error)
            return
        with lock:
            results.append(figures)

    threads = [threading.Thread(target=work, args=(r,), name=f"reviewer-{r.index}") for r in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    merged = {page: PageFigures() for page in PAGES}
    for figures in results:
        for page, figure in figures.items():
            merged[page].add(figure)
    return merged
