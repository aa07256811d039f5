"""The pages bench/pages.py requests: each page's URL, varied per request where a user's would be, and what its
response must show."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from _pages_data import SEARCH_WORDS, Fixture  # bench/ is on sys.path as the script's folder


@dataclass(frozen=True)
class Page:
    name: str
    url: Callable[[random.Random], str]
    check: Callable[[bytes, str], str | None]  # a problem with the response, or None
    judged: bool = True


def review_pages(fixture: Fixture, *, total: int) -> list[Page]:
    base = f"/p/{fixture.slug}"
    generators = fixture.generator_ids

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
        Page(
            "browser, text search",
            lambda rng: f"{base}/samples/?q={rng.choice(SEARCH_WORDS)}",
            _rows(at_least=0),
            judged=False,
        ),
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
            _has_all(b'class="samples metrics"', b'data-testid="dash-rate"', b'data-testid="alert-row"'),
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
