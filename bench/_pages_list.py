"""The pages bench/pages.py requests: each page's URL, varied per request where a user's would be, and what its
response must show."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from _pages_data import SEARCH_WORDS, Fixture  # bench/ is on sys.path as the script's folder
from _pages_sql import CHECK_NAMES as CHECKS


@dataclass(frozen=True)
class Page:
    name: str
    url: Callable[[random.Random], str]
    check: Callable[[bytes, str], str | None]  # a problem with the response, or None
    judged: bool = True
    # For a POST: the form for this URL, read before the clock starts (a verdict needs the sample's revision).
    form: Callable[[str], dict[str, Any]] | None = None


def review_pages(fixture: Fixture, *, total: int) -> list[Page]:
    base = f"/p/{fixture.slug}"
    generators = fixture.generator_ids
    template_ids, pending_ids = _templates_and_pending(fixture, total=total)

    def queue(order: str) -> Callable[[random.Random], str]:
        def url(rng: random.Random) -> str:
            # A reviewer opens the queue, or moves on from a sample (a cursor anywhere in it).
            if rng.random() < 0.25:
                return f"{base}/queue/?order={order}"
            cursor = (
                f"0:{rng.uniform(0.02, 0.5):.4f}:{rng.randint(1, total)}"
                if order == "novelty"
                else f"0:{rng.randint(1, total)}"
            )
            return f"{base}/queue/?order={order}&after={cursor}"

        return url

    def deep(rng: random.Random) -> int:
        return rng.randint(total // 10, total)

    def filtered(rng: random.Random) -> str:
        return f"generator={rng.choice(generators)}&status=pending"

    def rare(rng: random.Random) -> str:
        # Under 0.1% of the samples each: what a lead narrows down to before a bulk action.
        choice = rng.randrange(4)
        if choice == 0:
            return f"generator={rng.choice(generators)}&flag={rng.choice(CHECKS)}&verdict=wrong"
        if choice == 1:
            return f"flag={rng.choice(CHECKS)}&status=rejected&origin=synthetic"
        if choice == 2:
            return f"template={rng.choice(template_ids)}&verdict=unsure&flag={rng.choice(CHECKS)}"
        # None at all: real samples are never rejected here, and the walk to prove it is the longest.
        return "origin=real&status=rejected"

    def text(rng: random.Random) -> str:
        word = rng.choice(SEARCH_WORDS)
        return f"q={word}" if rng.random() < 0.5 else f"q={word}&generator={rng.choice(generators)}"

    def pending_sample(rng: random.Random) -> int:
        return rng.choice(pending_ids)

    def noise_floor(rng: random.Random) -> str:
        # The page as it opens, or with two generators compared (Fisher's exact test on the pooled counts).
        if rng.random() < 0.5:
            return f"{base}/noise-floor/"
        first, second = rng.sample(generators, 2)
        return f"{base}/noise-floor/?compare=generator&first={first}&second={second}#compare"

    return [
        Page("queue, oldest", queue("oldest"), _has_card),
        Page("queue, novelty", queue("novelty"), _has_card),
        Page("queue, flagged", queue("flagged"), _has_card),
        Page("browser, first page", lambda rng: f"{base}/samples/", _rows(exactly=50)),
        Page("browser, deep page", lambda rng: f"{base}/samples/?after={deep(rng)}", _rows(exactly=50)),
        Page("browser, filtered", lambda rng: f"{base}/samples/?{filtered(rng)}", _rows(at_least=1)),
        Page(
            "browser, filtered deep",
            lambda rng: f"{base}/samples/?{filtered(rng)}&after={deep(rng)}",
            _rows(at_least=1),
        ),
        Page("browser, rare filters", lambda rng: f"{base}/samples/?{rare(rng)}", _rows(at_least=0)),
        Page("browser, text search", lambda rng: f"{base}/samples/?{text(rng)}", _rows(at_least=1)),
        Page(
            "browser, text + flag",
            lambda rng: f"{base}/samples/?q={rng.choice(SEARCH_WORDS)}&flag={rng.choice(CHECKS)}",
            _rows(at_least=0),
        ),
        Page(
            "bulk confirm",
            lambda rng: f"{base}/samples/bulk/?{rare(rng)}&action=reject",
            _has(b'data-testid="bulk-count"'),
        ),
        Page(
            "verdict POST",
            lambda rng: f"{base}/queue/{pending_sample(rng)}/verdict/",
            _has(b"data-sample="),
            form=_verdict_form,
        ),
        Page("audit log", lambda rng: f"{base}/audit-log/", _has(b'data-testid="csv-link"')),
        Page("similarity, map", lambda rng: f"{base}/similarity/?tab=map", _has(b'data-testid="map-note"')),
        Page("sample detail", lambda rng: f"{base}/samples/{rng.randint(1, total)}/", _detail),
        Page("similarity, groups", lambda rng: f"{base}/similarity/", _has(b'data-testid="group"')),
        Page(
            "similarity, clusters",
            lambda rng: f"{base}/similarity/?tab=clusters&page={rng.randint(1, 3)}",
            _has(b'data-testid="cluster"'),
        ),
        # The leads' pages: they read closed audits' frozen figures, snapshots and counters.
        Page(
            "dashboard",
            lambda rng: f"{base}/dashboard/",
            _has_all(b'class="samples metrics stack-sm"', b'data-testid="dash-rate"', b'data-testid="alert-row"'),
        ),
        Page("noise floor", noise_floor, _noise_floor),
        Page(
            "audit, closed",
            lambda rng: f"{base}/audits/{rng.choice(fixture.closed_audit_ids)}/",
            _has_all(b'data-testid="noise-floor-rate"', b"figures frozen"),
        ),
        Page(
            "audit, open",
            lambda rng: f"{base}/audits/{fixture.open_audit_id}/",
            _has_all(b'data-testid="noise-floor-rate"', b"verdicts</span>"),
        ),
        Page("audits, list", lambda rng: f"{base}/audits/", _has(b'data-testid="audit-table"')),
    ]


def _templates_and_pending(fixture: Fixture, *, total: int) -> tuple[list[int], list[int]]:
    """The project's templates, and pending samples outside any audit for the verdict POSTs to judge
    (an open audit's item takes verdicts only in the audit)."""
    from generation.models import PromptTemplate, Sample
    from reviews.models import AuditItem

    rng = random.Random(total)
    templates = sorted(PromptTemplate.objects.filter(project_id=fixture.project_id).values_list("id", flat=True))
    candidates = rng.sample(range(1, total + 1), min(total, 3000))
    pending = set(
        Sample.objects.filter(project_id=fixture.project_id, status="pending", pk__in=candidates).values_list(
            "id", flat=True
        )
    )
    pending -= set(AuditItem.objects.filter(sample_id__in=pending).values_list("sample_id", flat=True))
    return templates, sorted(pending)


def _verdict_form(url: str) -> dict[str, Any]:
    """A lead's "correct" on the sample the URL names, at its current revision (read before timing)."""
    from generation.models import Sample

    pk = int(url.rstrip("/").split("/")[-2])
    return {"value": "correct", "revision": Sample.objects.only("revision").get(pk=pk).revision, "order": "oldest"}


def _has_card(content: bytes, url: str) -> str | None:
    return "no sample card" if b'data-sample=""' in content or b"data-sample=" not in content else None


def _rows(*, exactly: int | None = None, at_least: int = 0) -> Callable[[bytes, str], str | None]:
    def check(content: bytes, url: str) -> str | None:
        rows = content.count(b'name="ids" value=')
        if exactly is not None and rows != exactly:
            return f"{rows} rows, not {exactly}"
        return f"{rows} rows, fewer than {at_least}" if rows < at_least else None

    return check


def _detail(content: bytes, url: str) -> str | None:
    pk = url.rstrip("/").rsplit("/", 1)[1]
    return None if f"Sample #{pk}<".encode() in content else "not the sample's page"


def _has(marker: bytes) -> Callable[[bytes, str], str | None]:
    return lambda content, url: None if marker in content else f"no {marker.decode()}"


def _noise_floor(content: bytes, url: str) -> str | None:
    if b'data-testid="breakdown-generator"' not in content or b"No closed audits yet" in content:
        return "no pooled noise floor"
    return "no comparison" if "compare=" in url and b'data-testid="comparison"' not in content else None


def _has_all(*markers: bytes) -> Callable[[bytes, str], str | None]:
    def check(content: bytes, url: str) -> str | None:
        missing = [marker.decode() for marker in markers if marker not in content]
        return f"no {', '.join(missing)}" if missing else None

    return check
