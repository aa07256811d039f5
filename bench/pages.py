"""Review and leads' pages: p95 server time at 1M samples, against the same project at 10k.

The goal: every review page, and the leads' dashboard, noise floor and audit
pages, answers in at most 150 ms (p95) at 1M samples, and in at most 1.5x its
p95 at 10k samples.

What it measures, in one run on its own database (synthreview_bench_pages,
created and dropped here):

load   one project as a year of work leaves it, loaded by bulk SQL (INSERT ...
       SELECT over generate_series, with real texts from ../shared/data, never
       copied into the project) rather than through the services:
       - samples: GSM8K problems and the Self-Instruct models' responses as
         synthetic samples (4 generators, 3 template versions, 3 runs and some
         run-less imports), the expert-written Self-Instruct instances as real
         ones (~10%); each text carries a numeric variation, so every content
         hash is unique. Statuses: synthetic 12% accepted, 6% rejected, 1% left
         pending with the lead's "unsure", the rest pending; real 50% accepted;
       - a verdict and an audit-log entry for every reviewed sample, automated
         check flags on 2%, bulk actions in the audit log (one per 20k samples,
         ~150 sample ids each);
       - a similarity row for every sample (10 neighbours spread over the whole
         project, novelty, nearest real sample, cluster), the project's clusters
         (as many as cluster_count gives) with their generator and template
         mixes, near-duplicate groups of 2-6 near-identical samples covering
         ~2% of them (15% already marked "not duplicates", 15% resolved: the
         others rejected, the decision in the audit log), and the per-project
         counters the pages read instead of COUNT(*); then VACUUM ANALYZE;
       - what the leads' pages read, made again at each size so both sizes
         show the same amount of it: 4 closed audits of 60 items (the whole
         project, two runs, one generator) and 1 open audit with 25 of its 60
         verdicts, drawn and reviewed through the services (audit_create,
         audit_verdict_record, which close and freeze them); 30 quality
         snapshot passes (project, runs, generators) 12 days apart, inserted
         in the shape quality_snapshots_compute writes, their counts and
         histograms taken from the loaded data by SQL (the worker's pass needs
         embeddings the bench does not make, and the pages read only the
         snapshots); 3 alerts;
then   the pages, requested in-process through django.test.Client as a lead,
       by a fresh interpreter at each size (the same state both times, not a
       process that has just run a bulk load),
       DEBUG off (production settings): server time = wall time around
       client.get, the whole request (middleware, session, queries, template).
       Each page's URL varies per request where a user's would (other samples,
       other cursors). Pages are requested round-robin, so a burst of load from
       another process spreads over all pages instead of landing on one;
       3 warm-up rounds, then --requests rounds (60; 15 with --quick). A page's
       p95 is taken over all its timed requests (60 at full size); the p95 of
       each third of them (a pass) is printed beside it, to show whether one
       burst of another process's work made it. The pages include selective
       filters (under 0.1% of the samples, down to none at all), text search
       alone and with filters, the bulk confirmation of such a filter, the
       audit log, the map tab (a 3,000-point map, as the worker stores it) and
       the review queue's verdict POST (htmx, answered with the next card; a
       lead's "correct" on a pending sample outside any audit).
       Beside the wall time, each request's CPU time in this process (Python:
       middleware, ORM, templates; PostgreSQL's work is not in it) is kept: a
       wall time that moves while the CPU time does not is PostgreSQL's work,
       or, on a shared machine, other processes' load;
grow   the same project to 1M samples (990k more, same recipe, clusters rebuilt
       for the new size) and measure again.

ratio = p95 at the large size / p95 at the small size, per page (wall time). A
page is ok when its p95 at the large size is at most 150 ms and its ratio at
most 1.5; every page is judged, text search included. The ratio has no floor under the small p95: every page's p95 at 10k is
tens of milliseconds (session, ORM, templates), far above the timer's noise.

Run it from the project root (PostgreSQL on 127.0.0.1:5432, user postgres, trust):

    .venv/bin/python bench/pages.py [--quick] [--small N] [--large N] [--requests N] [--keep] [--queries]

--quick: 10,000 then 40,000 samples, 15 requests per page (under a minute).
The default, 10,000 then 1,000,000, takes ~7-10 minutes on two cores, most of
it loading the 990k samples (their full-text index alone is ~90 s of CPU).
--keep leaves the database in place (to EXPLAIN queries by hand); --queries
prints each page's slowest queries at the large size. The last line is
`RESULT pages_worst_ratio=R goal<=1.5 ok|MISS`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _common import (  # bench/ is on sys.path as the script's folder
    REPO_ROOT,
    SERVER_URL,
    database_drop,
    database_recreate,
)
from _common import SHARED_DATA as DATA_ROOT
from _pages_audits import load_audits_and_snapshots  # what the leads' pages read
from _pages_data import (  # the project's data, loaded by bulk SQL
    BENCH_DATABASE,
    Fixture,
    _project_fixture,
    load_samples,
    text_pools,
)
from _pages_list import Page, review_pages  # the pages, and what each response must show
from _pages_sql import GROUP_BLOCK

GOAL_P95_MS = 150.0
GOAL_RATIO = 1.5
FULL_SMALL, FULL_LARGE, FULL_REQUESTS = 10_000, 1_000_000, 60
QUICK_SMALL, QUICK_LARGE, QUICK_REQUESTS = 10_000, 40_000, 15
WARMUP_ROUNDS = 3
# The timed requests come in this many consecutive passes (see Measured.p95).
PASSES = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_SMALL:,} then {QUICK_LARGE:,} samples, {QUICK_REQUESTS} requests per page",
    )
    parser.add_argument("--small", type=int, default=None, help="samples at the first measurement")
    parser.add_argument("--large", type=int, default=None, help="samples at the second (the same project grown)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per page and size")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--keep", action="store_true", help="keep the database (default: drop it at the end)")
    parser.add_argument("--queries", action="store_true", help="print each page's slowest queries at the large size")
    parser.add_argument("--child-measure", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_measure is not None:
        _configure_environment(data_dir=Path(os.environ["DATA_DIR"]))
        return _child_measure(json.loads(args.child_measure))
    small = args.small if args.small is not None else (QUICK_SMALL if args.quick else FULL_SMALL)
    large = args.large if args.large is not None else (QUICK_LARGE if args.quick else FULL_LARGE)
    requests = args.requests if args.requests is not None else (QUICK_REQUESTS if args.quick else FULL_REQUESTS)
    if small < 1_000 or large <= small or small % GROUP_BLOCK or large % GROUP_BLOCK:
        parser.error(f"need 1,000 <= --small < --large, both multiples of {GROUP_BLOCK}")
    if requests < 3 * PASSES or requests % PASSES:
        parser.error(f"--requests must be a multiple of {PASSES}, at least {3 * PASSES}")
    if not DATA_ROOT.is_dir():
        parser.error(f"the real texts are not there: {DATA_ROOT}")
    work_dir = Path(tempfile.mkdtemp(prefix="synthreview-bench-pages-"))
    _configure_environment(data_dir=work_dir / "data")
    try:
        return _run(small=small, large=large, requests=requests, seed=args.seed, show_queries=args.queries)
    finally:
        if args.keep:
            print(f"kept: database {BENCH_DATABASE} ({SERVER_URL}/{BENCH_DATABASE})")
        else:
            database_drop(BENCH_DATABASE)
        shutil.rmtree(work_dir, ignore_errors=True)


def _configure_environment(*, data_dir: Path) -> None:
    os.environ["DATABASE_URL"] = f"{SERVER_URL}/{BENCH_DATABASE}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "synthreview.settings"
    # Production settings: with DEBUG on, Django would keep every query in memory
    # and render error pages; the client asks over HTTPS (secure=True), as behind
    # the production proxy, so SECURE_SSL_REDIRECT stays on.
    os.environ["DEBUG"] = "False"
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 50)
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ["DATA_DIR"] = str(data_dir)
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))


# --- The run -----------------------------------------------------------------------------------------------


def _run(*, small: int, large: int, requests: int, seed: int, show_queries: bool) -> int:
    import django

    started = time.perf_counter()
    database_recreate(BENCH_DATABASE)
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    print(f"setup: database created and migrated in {time.perf_counter() - started:.1f} s")
    fixture = _project_fixture()
    pools = text_pools()
    print(
        f"texts: {len(pools['s']):,} synthetic (GSM8K, Self-Instruct model responses) and {len(pools['r']):,} real "
        f"(Self-Instruct expert instances) from shared/data, cycled with a numeric variation"
    )

    results: dict[int, dict[str, Measured]] = {}
    load_seconds: dict[int, float] = {}
    judged: set[str] = set()
    for size in (small, large):
        first = 1 if size == small else small + 1
        load_seconds[size] = load_samples(fixture, pools, first=first, last=size)
        fixture, audit_seconds = load_audits_and_snapshots(fixture, seed=seed + size)
        load_seconds[size] += audit_seconds
        _store_map(fixture, total=size, seed=seed)
        pages = review_pages(fixture, total=size)
        judged = {page.name for page in pages if page.judged}
        load_before = os.getloadavg()[0]
        results[size] = _measure_in_child(
            fixture, total=size, requests=requests, seed=seed + size, show_queries=show_queries and size == large
        )
        _print_size(size, results[size], load_before=load_before)

    return _report(small, large, results, load_seconds, judged)


def _store_map(fixture: Fixture, *, total: int, seed: int) -> None:
    """The map the similarity worker would store for this size: a seeded subset of
    SIMILARITY_MAP_POINTS samples at random places (the page reads points, never vectors)."""
    from django.conf import settings

    from reviews.models import EmbeddingMap

    rng = random.Random(seed + total)
    chosen = sorted(rng.sample(range(1, total + 1), min(total, settings.SIMILARITY_MAP_POINTS)))
    EmbeddingMap.objects.update_or_create(
        project_id=fixture.project_id,
        defaults={
            "method": "umap",
            "points": [[pk, round(rng.random(), 4), round(rng.random(), 4)] for pk in chosen],
            "embedded_total": total,
        },
    )


# --- The measurement ---------------------------------------------------------------------------------------


@dataclass
class Measured:
    # In the order they were made: PASSES consecutive slices are the passes.
    times_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    queries: int = 0

    def pass_p95s(self) -> list[float]:
        size = len(self.times_ms) // PASSES
        return [percentile(self.times_ms[i * size : (i + 1) * size], 0.95) for i in range(PASSES)]

    @property
    def p95(self) -> float:
        """The judged figure: the p95 of every timed request (at least 60 at full size)."""
        return percentile(self.times_ms, 0.95)

    @property
    def p50(self) -> float:
        return percentile(self.times_ms, 0.50)

    @property
    def cpu_p95(self) -> float:
        return percentile(self.cpu_ms, 0.95)


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _client(fixture: Fixture) -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    client = Client()
    client.force_login(get_user_model().objects.get(pk=fixture.lead_id))
    return client


def _get(client: Any, page: Page, url: str, form: dict[str, Any] | None = None) -> None:
    # A POST comes as the review queue's keys send it: htmx, answered with the next card.
    response = (
        client.post(url, form, secure=True, headers={"HX-Request": "true"})
        if form is not None
        else client.get(url, secure=True)
    )
    if response.status_code != 200:
        raise AssertionError(f"{page.name}: {url} answered {response.status_code}")
    if problem := page.check(response.content, url):
        raise AssertionError(f"{page.name}: {url}: {problem}")


def measure_pages(fixture: Fixture, pages: list[Page], *, requests: int, seed: int) -> dict[str, Measured]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client(fixture)
    rng = random.Random(seed)
    measured = {page.name: Measured() for page in pages}
    for page in pages:
        url = page.url(rng)
        form = page.form(url) if page.form else None
        with CaptureQueriesContext(connection) as captured:
            _get(client, page, url, form)
        measured[page.name].queries = len(captured.captured_queries)
    perf_counter, process_time = time.perf_counter, time.process_time
    # Round-robin: a burst of load from another process spreads over all pages.
    for round_number in range(WARMUP_ROUNDS + requests):
        for page in pages:
            url = page.url(rng)
            form = page.form(url) if page.form else None
            started, cpu_started = perf_counter(), process_time()
            _get(client, page, url, form)
            elapsed_ms, cpu_ms = (perf_counter() - started) * 1000, (process_time() - cpu_started) * 1000
            if round_number >= WARMUP_ROUNDS:
                measured[page.name].times_ms.append(elapsed_ms)
                measured[page.name].cpu_ms.append(cpu_ms)
    return measured


def _measure_in_child(
    fixture: Fixture, *, total: int, requests: int, seed: int, show_queries: bool
) -> dict[str, Measured]:
    """The pages measured by a fresh interpreter, so both sizes are measured by a process in the
    same state, not by one that has just run a bulk load."""
    from django.db import connections

    connections.close_all()
    job = json.dumps(
        {"fixture": asdict(fixture), "total": total, "requests": requests, "seed": seed, "queries": show_queries}
    )
    completed = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-measure", job],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    *lines, last = completed.stdout.strip().splitlines()
    for line in lines:
        print(line)
    return {name: Measured(**figures) for name, figures in json.loads(last).items()}


def _child_measure(job: dict[str, Any]) -> int:
    import django

    django.setup()
    fixture = Fixture(
        **{key: tuple(value) if isinstance(value, list) else value for key, value in job["fixture"].items()}
    )
    pages = review_pages(fixture, total=job["total"])
    measured = measure_pages(fixture, pages, requests=job["requests"], seed=job["seed"])
    if job["queries"]:
        _print_slowest_queries(fixture, pages, seed=job["seed"])
    print(json.dumps({name: asdict(figures) for name, figures in measured.items()}))
    return 0


def _print_slowest_queries(fixture: Fixture, pages: list[Page], *, seed: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = _client(fixture)
    rng = random.Random(seed)
    for page in pages:
        url = page.url(rng)
        form = page.form(url) if page.form else None
        with CaptureQueriesContext(connection) as captured:
            _get(client, page, url, form)
        slowest = sorted(captured.captured_queries, key=lambda q: -float(q["time"]))[:3]
        print(
            f"queries: {page.name}: {url}: {len(captured.captured_queries)} queries, "
            f"{sum(float(q['time']) for q in captured.captured_queries) * 1000:.1f} ms in all"
        )
        for query in slowest:
            print(f"    {float(query['time']) * 1000:7.1f} ms  {query['sql'][:300]}")


def _print_size(size: int, measured: dict[str, Measured], *, load_before: float) -> None:
    print(
        f"measured at {size:,} samples (load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
        f"on {os.cpu_count()} cores):"
    )
    for name, figures in measured.items():
        passes = " ".join(f"{p95:.1f}" for p95 in figures.pass_p95s())
        print(
            f"    {name:<24} p50 {figures.p50:6.1f}  p95 {figures.p95:6.1f} (passes {passes})  "
            f"max {max(figures.times_ms):6.1f}  cpu p95 {figures.cpu_p95:6.1f} ms  "
            f"({figures.queries} queries, {len(figures.times_ms)} requests)"
        )


def _report(
    small: int, large: int, results: dict[int, dict[str, Measured]], load_seconds: dict[int, float], judged: set[str]
) -> int:
    label_small, label_large = _size_label(small), _size_label(large)
    both = f"{label_small} / {label_large}"
    header = (
        f"{'page':<24} | {'queries':>7} | {'p95 ' + label_small:>9} | {'p95 ' + label_large:>9} | "
        f"{'ratio':>5} | {'ok':<4} | {'p50 ' + both:>17} | {'cpu p95 ' + both:>19}"
    )
    print()
    print(header)
    print("-" * len(header))
    worst_ratio, worst_p95, worst_page, all_ok = 0.0, 0.0, "", True
    for name in results[small]:
        before, after = results[small][name], results[large][name]
        ratio = after.p95 / before.p95
        ok = after.p95 <= GOAL_P95_MS and ratio <= GOAL_RATIO
        if name in judged:
            all_ok &= ok
            worst_ratio = max(worst_ratio, ratio)
            if after.p95 > worst_p95:
                worst_p95, worst_page = after.p95, name
        verdict = ("ok" if ok else "MISS") if name in judged else "info"
        print(
            f"{name:<24} | {before.queries:>3}/{after.queries:<3} | {before.p95:6.1f} ms | {after.p95:6.1f} ms | "
            f"{ratio:5.2f} | {verdict:<4} | {before.p50:6.1f} / {after.p50:6.1f} ms | "
            f"{before.cpu_p95:6.1f} / {after.cpu_p95:6.1f} ms"
        )
    print(
        "(p95: over all timed requests; info: reported, not judged; cpu: this process's CPU time, "
        "PostgreSQL's not included)"
    )
    print(f"load: {small:,} samples in {load_seconds[small]:.1f} s; grown to {large:,} in {load_seconds[large]:.1f} s")
    print(f"worst p95 at {large:,}: {worst_p95:.1f} ms ({worst_page}); goal <= {GOAL_P95_MS:.0f} ms")
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) on {os.cpu_count()} cores")
    print(f"RESULT pages_worst_ratio={worst_ratio:.2f} goal<={GOAL_RATIO} {'ok' if all_ok else 'MISS'}")
    return 0


def _size_label(size: int) -> str:
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size // 1_000}k" if size % 1_000 == 0 else str(size)


if __name__ == "__main__":
    sys.exit(main())
